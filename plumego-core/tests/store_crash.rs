//! Crash safety of the redb store: a child process writes and prints each
//! write it has had acknowledged, is killed with SIGKILL mid-stream, and the
//! store is reopened. Every acknowledged write must be there, the file must
//! open cleanly, and a multi-key transaction in flight at the kill must be
//! all there or not at all.
//!
//! The child is this test executable running the same test again with
//! `PLUMEGO_CRASH_WRITER=<mode>:<dir>` set, which makes the test act as the
//! writer instead of the parent.

#![cfg(all(feature = "store-redb", unix))]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use plumego_core::store::redb::{RedbConfig, RedbStore};
use plumego_core::store::{Kv, StoreError};

const CHILD_ENV: &str = "PLUMEGO_CRASH_WRITER";
/// Starts every line of the writer's protocol.
const MARK: &str = "@@writer@@ ";
/// Keys per transaction in batch mode: large enough (about 1 MiB) that a
/// commit takes a while, so the kill usually lands inside one.
const BATCH: usize = 400;

/// The value written for `key`, so a reader can tell a torn or wrong value.
fn value_for(key: &str, len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        v.extend_from_slice(key.as_bytes());
        v.push(b'|');
    }
    v.truncate(len);
    Bytes::from(v)
}

fn single_key(i: u64) -> String {
    format!("single:{i:08}")
}

fn batch_key(batch: u64, j: usize) -> String {
    format!("batch:{batch:06}:{j:04}")
}

/// The writer half, run in the child process the crash tests start.
fn crash_writer(spec: &str) {
    let (mode, dir) = spec
        .split_once(':')
        .expect("PLUMEGO_CRASH_WRITER is <mode>:<dir>");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = RedbStore::open(RedbConfig::new(dir).cleanup_interval(None))
            .await
            .unwrap();
        let mut out = std::io::stdout();
        match mode {
            "single" => {
                for i in 0.. {
                    let key = single_key(i);
                    store.set(&key, value_for(&key, 256), None).await.unwrap();
                    writeln!(out, "{MARK}ACK {key}").unwrap();
                    out.flush().unwrap();
                }
            }
            "batch" => {
                for b in 0.. {
                    let entries = (0..BATCH)
                        .map(|j| {
                            let key = batch_key(b, j);
                            let value = value_for(&key, 2048);
                            (key, value, None)
                        })
                        .collect();
                    writeln!(out, "{MARK}BEGIN {b}").unwrap();
                    out.flush().unwrap();
                    store.kv_set_many(entries).await.unwrap();
                    writeln!(out, "{MARK}ACK {b}").unwrap();
                    out.flush().unwrap();
                }
            }
            other => panic!("unknown mode {other}"),
        }
    });
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!(
        "plumego-crash-{tag}-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// Runs `test` again in a child process, as the writer.
fn spawn_writer(test: &str, mode: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{mode}:{}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Reads the child's lines until `stop` says to kill it, then sleeps
/// `delay`, sends SIGKILL, and drains whatever it printed before dying.
fn run_and_kill(
    mut child: Child,
    delay: Duration,
    mut stop: impl FnMut(&str) -> bool,
) -> Vec<String> {
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.split_once(MARK).is_some_and(|(_, msg)| stop(msg));
        seen.push(line);
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the writer made too little progress"
        );
    }
    std::thread::sleep(delay);
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no flush, no fsync.
    // Lines written before the kill are still in the pipe: they were
    // acknowledged too.
    for line in lines {
        match line {
            Ok(line) => seen.push(line),
            Err(_) => break,
        }
    }
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the writer was killed, not finished: {status:?}"
    );
    // Only our protocol lines matter; libtest's own output may share a line
    // with one (`test crash_writer ... ` has no newline), hence the marker.
    seen.into_iter()
        .filter_map(|l| l.split_once(MARK).map(|(_, msg)| msg.to_owned()))
        .collect()
}

/// Checks the file the way redb itself does, then opens the store on it.
fn reopen(dir: &Path, rt: &tokio::runtime::Runtime) -> RedbStore {
    let path = RedbConfig::new(dir).db_path();
    let mut db = redb::Database::open(&path).expect("the database reopens after the crash");
    assert!(
        db.check_integrity().expect("the integrity check runs"),
        "the file passed redb's integrity check"
    );
    drop(db);
    rt.block_on(RedbStore::open(RedbConfig::new(dir).cleanup_interval(None)))
        .expect("the store opens cleanly after the crash")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return crash_writer(&spec);
    }
    let rt = runtime();
    for (round, (acks_before_kill, delay_ms)) in [(40usize, 0u64), (120, 3), (250, 1)]
        .into_iter()
        .enumerate()
    {
        let dir = temp_dir("single");
        let child = spawn_writer("acknowledged_writes_survive_sigkill", "single", &dir.0);
        let mut acks = 0;
        let lines = run_and_kill(child, Duration::from_millis(delay_ms), |line| {
            acks += usize::from(line.starts_with("ACK "));
            acks >= acks_before_kill
        });
        let acked: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("ACK "))
            .collect();
        assert!(
            acked.len() >= acks_before_kill,
            "round {round}: {} acks",
            acked.len()
        );

        let store = reopen(&dir.0, &rt);
        rt.block_on(async {
            for key in &acked {
                let got = store.get(key).await;
                assert_eq!(
                    got.as_ref().ok(),
                    Some(&value_for(key, 256)),
                    "round {round}: acknowledged {key} is lost or torn: {got:?}"
                );
            }
            // Nothing beyond the one write that may have been in flight.
            let stored = store.keys("single:", None, 0).await.unwrap();
            assert!(
                stored.len() == acked.len() || stored.len() == acked.len() + 1,
                "round {round}: {} stored, {} acknowledged",
                stored.len(),
                acked.len()
            );
            // And the store still takes writes.
            store.set("after-crash", "ok".into(), None).await.unwrap();
            assert_eq!(store.get("after-crash").await.unwrap(), "ok");
        });
    }
}

#[test]
fn a_transaction_in_flight_at_sigkill_is_all_or_nothing() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return crash_writer(&spec);
    }
    let rt = runtime();
    let mut killed_in_flight = 0;
    for (round, (target, delay_ms)) in [(2u64, 0u64), (3, 4), (4, 12), (3, 25), (5, 40)]
        .into_iter()
        .enumerate()
    {
        let dir = temp_dir("batch");
        let child = spawn_writer(
            "a_transaction_in_flight_at_sigkill_is_all_or_nothing",
            "batch",
            &dir.0,
        );
        let lines = run_and_kill(child, Duration::from_millis(delay_ms), |line| {
            line.strip_prefix("BEGIN ")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= target)
        });
        let acked: BTreeSet<u64> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("ACK ")?.parse().ok())
            .collect();
        let begun: BTreeSet<u64> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("BEGIN ")?.parse().ok())
            .collect();
        let in_flight: Vec<u64> = begun.difference(&acked).copied().collect();
        assert!(
            in_flight.len() <= 1,
            "round {round}: one transaction at a time"
        );
        killed_in_flight += in_flight.len();

        let store = reopen(&dir.0, &rt);
        rt.block_on(async {
            let count = |b: u64| {
                let store = store.clone();
                async move {
                    let mut present = 0;
                    for j in 0..BATCH {
                        let key = batch_key(b, j);
                        match store.get(&key).await {
                            Ok(v) => {
                                assert_eq!(v, value_for(&key, 2048), "round {round}: torn value of {key}");
                                present += 1;
                            }
                            Err(StoreError::NotFound) => {}
                            Err(err) => panic!("round {round}: {key}: {err}"),
                        }
                    }
                    present
                }
            };
            for &b in &acked {
                assert_eq!(count(b).await, BATCH, "round {round}: acknowledged batch {b} is incomplete");
            }
            for &b in &in_flight {
                let present = count(b).await;
                eprintln!("round {round}: killed during batch {b}; after reopening {present}/{BATCH} of its keys");
                assert!(
                    present == 0 || present == BATCH,
                    "round {round}: batch {b}, in flight at the kill, is partly there: {present}/{BATCH}"
                );
            }
            let total = store.keys("batch:", None, 0).await.unwrap().len();
            assert!(
                total == acked.len() * BATCH || total == (acked.len() + in_flight.len()) * BATCH,
                "round {round}: {total} keys for {} acknowledged batches",
                acked.len()
            );
        });
    }
    assert!(
        killed_in_flight > 0,
        "no round killed the writer inside a transaction"
    );
}

//! Input checks (the Go `security/input` package): header names and values,
//! e-mail addresses, URLs, and "public" URLs safe to fetch server-side.
//!
//! These validate; they do not sanitise. Go's best-effort HTML and SQL
//! "sanitisers" are deliberately not ported: escaping on output and bound
//! query parameters are the fixes for those, and a stripping filter gives
//! false confidence.
//!
//! [`validate_public_url`] is the SSRF guard for URLs a user gives the
//! server to fetch (webhooks, avatars). It refuses loopback, private,
//! link-local (cloud metadata at `169.254.169.254`), CGNAT, multicast,
//! reserved and unspecified addresses, IPv6 unique-local and link-local,
//! IPv4 addresses embedded in IPv6 (mapped `::ffff:a.b.c.d`, compatible,
//! NAT64 `64:ff9b::/96`, 6to4 `2002::/16`), `localhost` names and metadata
//! host names, zone ids, and the numeric IPv4 spellings that URL parsers
//! and resolvers accept (`2130706433`, `0x7f.1`, `0177.0.0.1`). Hosts must be
//! ASCII (IDNs as punycode), so full-width digits cannot spell an address.
//! There is no DNS resolution: a public name may still resolve to a private
//! address, so also pin the resolved address when fetching.
//!
//! ```
//! use plumego_layers::security::input::{validate_public_url, validate_url, validate_email};
//!
//! assert!(validate_url("https://example.com:8443/a?b#c").is_ok());
//! assert!(validate_url("/relative/path").is_ok());
//! assert!(validate_url("javascript:alert(1)").is_err());
//! assert!(validate_public_url("https://api.example.com/hook").is_ok());
//! assert!(validate_public_url("http://169.254.169.254/latest/meta-data").is_err());
//! assert!(validate_public_url("http://[::ffff:127.0.0.1]/").is_err());
//! assert!(validate_public_url("http://2130706433/").is_err());
//! assert!(validate_email("jane.doe@example.com").is_ok());
//! assert!(validate_email("jane..doe@example.com").is_err());
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidInput(pub &'static str);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid input: {}", self.0)
    }
}

impl std::error::Error for InvalidInput {}

type Check = Result<(), InvalidInput>;

fn fail(why: &'static str) -> Check {
    Err(InvalidInput(why))
}

/// Whether `b` is an RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `s` is an RFC 7230 token (non-empty `tchar`s).
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Whether `s` is a valid header name (a token).
pub fn is_header_name(s: &str) -> bool {
    is_token(s)
}

/// Whether `s` is a safe header value: no control characters but tab (so no
/// CR/LF header injection). UTF-8 is given by `&str`.
pub fn is_header_value(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && c != '\t')
}

/// Checks an e-mail address: at most 254 characters, one `@`, a dot-atom
/// local part of at most 64 characters (no leading, trailing or double
/// dots), and a domain of at least two labels of letters, digits and inner
/// hyphens, 1 to 63 characters each. Quoted local parts and display names
/// are refused (stricter than Go's round trip through `mail.ParseAddress`).
pub fn validate_email(email: &str) -> Check {
    if email.is_empty() || email.chars().count() > 254 {
        return fail("email length");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return fail("email needs an @");
    };
    if domain.contains('@') {
        return fail("email has several @");
    }
    if local.is_empty() || local.len() > 64 {
        return fail("email local part length");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return fail("email local part dots");
    }
    let atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b);
    if !local.bytes().all(atext) {
        return fail("email local part characters");
    }
    validate_domain(domain, 2)
}

/// Checks a DNS name of at least `min_labels` labels.
fn validate_domain(domain: &str, min_labels: usize) -> Check {
    if domain.is_empty() || domain.len() > 253 {
        return fail("domain length");
    }
    let mut labels = 0;
    for label in domain.split('.') {
        labels += 1;
        if label.is_empty() || label.len() > 63 {
            return fail("domain label length");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return fail("domain label hyphen");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return fail("domain label characters");
        }
    }
    if labels < min_labels {
        return fail("domain needs more labels");
    }
    Ok(())
}

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

const BLOCKED_SCHEMES: [&str; 4] = ["javascript:", "data:", "file:", "vbscript:"];

/// The parts of an absolute URL that the checks read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlParts<'a> {
    /// `http` or `https`, lower case as written.
    pub scheme: &'a str,
    /// The host: a name, an IPv4 literal, or an IPv6 literal without brackets.
    pub host: &'a str,
    /// Whether the host was bracketed (an IPv6 literal).
    pub bracketed: bool,
    /// The port, if any.
    pub port: Option<u16>,
}

/// Checks a URL: at most 2048 characters, no `javascript:`, `data:`,
/// `file:` or `vbscript:` scheme, no control characters, spaces or
/// backslashes. A relative `/path` is allowed (not `//host`); anything else
/// must be `http` or `https` with a host, no user info and a decimal port of
/// at most 65535.
pub fn validate_url(url: &str) -> Check {
    parse_url(url).map(|_| ())
}

/// [`validate_url`], returning the parts of an absolute URL (`None` for a
/// relative one).
pub fn parse_url(url: &str) -> Result<Option<UrlParts<'_>>, InvalidInput> {
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err(InvalidInput("url length"));
    }
    let lowered = url.trim_start().to_ascii_lowercase();
    if BLOCKED_SCHEMES.iter().any(|s| lowered.starts_with(s)) {
        return Err(InvalidInput("url scheme is blocked"));
    }
    if url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return Err(InvalidInput(
            "url has control, space or backslash characters",
        ));
    }
    if url.starts_with('/') {
        if url.starts_with("//") {
            return Err(InvalidInput("url is scheme-relative"));
        }
        return Ok(None);
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(InvalidInput("url needs http or https"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(InvalidInput("url needs http or https"));
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err(InvalidInput("url has user info"));
    }
    let (host, bracketed, port) = if let Some(inner) = authority.strip_prefix('[') {
        let Some((host, after)) = inner.split_once(']') else {
            return Err(InvalidInput("url has an unclosed ["));
        };
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(InvalidInput("url port"))?),
        };
        (host, true, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, false, Some(p)),
            None => (authority, false, None),
        }
    };
    if host.is_empty() {
        return Err(InvalidInput("url needs a host"));
    }
    if !host.is_ascii() {
        return Err(InvalidInput("url host must be ASCII (use punycode)"));
    }
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => Some(
            p.parse::<u16>()
                .map_err(|_| InvalidInput("url port is over 65535"))?,
        ),
        Some(_) => return Err(InvalidInput("url port")),
    };
    if bracketed {
        if host.contains('%') {
            return Err(InvalidInput("url host has a zone id"));
        }
        host.parse::<Ipv6Addr>()
            .map_err(|_| InvalidInput("url host is not an IPv6 address"))?;
    } else if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    {
        return Err(InvalidInput("url host characters"));
    }
    Ok(Some(UrlParts {
        scheme,
        host,
        bracketed,
        port,
    }))
}

/// [`validate_url`], plus: absolute, and the host is not local, private,
/// metadata or otherwise non-public (see the [module docs](self)).
pub fn validate_public_url(url: &str) -> Check {
    let Some(parts) = parse_url(url)? else {
        return fail("public url must be absolute");
    };
    let host = parts.host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return fail("url needs a host");
    }
    if parts.bracketed {
        let ip = parts
            .host
            .parse::<Ipv6Addr>()
            .map_err(|_| InvalidInput("url host is not an IPv6 address"))?;
        return check_public_ip(IpAddr::V6(ip));
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return fail("url host is localhost");
    }
    const METADATA_HOSTS: [&str; 4] = [
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
    ];
    if METADATA_HOSTS.contains(&host.as_str()) || host.ends_with(".internal") {
        return fail("url host is a metadata or internal name");
    }
    // WHATWG URL parsers and inet_aton treat a host whose last label is
    // numeric as an IPv4 address in any of its spellings.
    let last = host.rsplit('.').next().unwrap_or_default();
    if is_numeric_label(last) {
        return match parse_ipv4_any(&host) {
            Some(ip) => check_public_ip(IpAddr::V4(ip)),
            None => fail("url host is a malformed IPv4 address"),
        };
    }
    validate_domain(&host, 1)
}

fn is_numeric_label(label: &str) -> bool {
    if label.is_empty() {
        return false;
    }
    if let Some(hex) = label.strip_prefix("0x") {
        return hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    label.bytes().all(|b| b.is_ascii_digit())
}

/// Parses an IPv4 address in the forms `inet_aton` and WHATWG accept: one to
/// four parts, each decimal, `0x` hex or `0` octal, the last filling the
/// remaining bytes.
pub fn parse_ipv4_any(host: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(4);
    for part in &parts {
        let v = if let Some(hex) = part.strip_prefix("0x") {
            if hex.is_empty() {
                0
            } else {
                u64::from_str_radix(hex, 16).ok()?
            }
        } else if part.len() > 1 && part.starts_with('0') {
            u64::from_str_radix(&part[1..], 8).ok()?
        } else {
            part.parse::<u64>().ok()?
        };
        values.push(v);
    }
    let (last, head) = values.split_last()?;
    if head.iter().any(|v| *v > 255) {
        return None;
    }
    let remaining_bits = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << remaining_bits {
        return None;
    }
    let mut addr: u64 = 0;
    for (i, v) in head.iter().enumerate() {
        addr |= v << (24 - 8 * i as u32);
    }
    addr |= last;
    u32::try_from(addr).ok().map(Ipv4Addr::from)
}

/// Refuses addresses that are not globally routable unicast.
pub fn check_public_ip(ip: IpAddr) -> Check {
    match ip {
        IpAddr::V4(v4) => check_public_v4(v4),
        IpAddr::V6(v6) => check_public_v6(v6),
    }
}

fn check_public_v4(ip: Ipv4Addr) -> Check {
    let [a, b, c, _] = ip.octets();
    let blocked = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240; // reserved
    if blocked {
        fail("url host is not a public address")
    } else {
        Ok(())
    }
}

fn check_public_v6(ip: Ipv6Addr) -> Check {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return check_public_v4(v4);
    }
    let segs = ip.segments();
    let bits = u128::from(ip);
    // IPv4-compatible (::a.b.c.d, deprecated but still routed by some stacks).
    if bits >> 32 == 0 {
        if bits <= 1 {
            return fail("url host is not a public address");
        }
        return check_public_v4(Ipv4Addr::from(bits as u32));
    }
    // NAT64 well-known prefix 64:ff9b::/96 embeds an IPv4 address.
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return check_public_v4(Ipv4Addr::from(bits as u32));
    }
    // 6to4 2002::/16 embeds one in bits 16..48.
    if segs[0] == 0x2002 {
        return check_public_v4(Ipv4Addr::from((bits >> 80) as u32));
    }
    let blocked = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segs[0] & 0xfe00) == 0xfc00 // unique local
        || (segs[0] & 0xffc0) == 0xfe80 // link local
        || (segs[0] & 0xffc0) == 0xfec0 // site local (deprecated)
        || (segs[0] == 0x2001 && segs[1] == 0x0db8) // documentation
        || (segs[0] == 0x2001 && segs[1] == 0) // Teredo: embeds an obfuscated IPv4
        || segs[0] == 0x0100 && segs[1] == 0 && segs[2] == 0 && segs[3] == 0; // discard
    if blocked {
        fail("url host is not a public address")
    } else {
        Ok(())
    }
}

/// Checks a phone number: `+` only first, separators space, `-`, `.` and
/// parentheses, 7 to 15 digits.
pub fn validate_phone(phone: &str) -> Check {
    let mut digits = 0;
    for (i, c) in phone.char_indices() {
        match c {
            '0'..='9' => digits += 1,
            '+' if i == 0 => {}
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return fail("phone characters"),
        }
    }
    if (7..=15).contains(&digits) {
        Ok(())
    } else {
        fail("phone needs 7 to 15 digits")
    }
}

/// Drops control characters except newline and tab.
pub fn strip_control_chars(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// Whether `s` has characters that commonly break out of a context: NUL,
/// CR, `<`, `>`, `"`, `'`, `` ` ``, `\`, `{`, `}`.
pub fn contains_dangerous_chars(s: &str) -> bool {
    s.chars().any(|c| {
        matches!(
            c,
            '\0' | '\r' | '<' | '>' | '"' | '\'' | '`' | '\\' | '{' | '}'
        )
    })
}

/// Trims and collapses runs of whitespace to one space.
pub fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

//! The route policy: rules matched in order by host, path and method, each naming the
//! [`Requirement`] a request must meet. Read from TOML and checked at start, every error naming
//! its line; the first rule that matches decides, and a request no rule matches is refused.

use std::fmt;

use authstar::Requirement;
use http::Method;
use serde::Deserialize;
use toml::Spanned;

/// A route policy.
///
/// ```
/// use authstar::Requirement;
/// use authstar_gateway::Policy;
///
/// let policy = Policy::from_toml(r#"
///     [[route]]
///     path = "/health"
///     allow = "public"
///
///     [[route]]
///     path = "/reports/{id}"
///     methods = ["GET", "HEAD"]
///     scopes_any = ["reports:read", "admin"]
///
///     [[route]]
///     path = "/admin/*"
///     scopes_all = ["admin"]
/// "#).unwrap();
/// let get = &http::Method::GET;
/// assert_eq!(policy.requirement(get, None, "/health"), Some(&Requirement::Public));
/// assert!(matches!(policy.requirement(get, None, "/reports/42"), Some(Requirement::ScopesAny(_))));
/// assert_eq!(policy.requirement(&http::Method::DELETE, None, "/reports/42"), None);
/// assert!(matches!(policy.requirement(get, None, "/admin/users/7"), Some(Requirement::ScopesAll(_))));
/// // Nothing matches: refused. A path that could read two ways is never matched.
/// assert_eq!(policy.requirement(get, None, "/reports"), None);
/// assert_eq!(policy.requirement(get, None, "/health/../admin/users"), None);
///
/// // A broken file names the line.
/// let error = Policy::from_toml("[[route]]\npath = \"/a\"\nallow = \"publik\"\n").unwrap_err();
/// assert_eq!(error.line(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct Policy {
    routes: Vec<Route>,
    admin_bypass: bool,
    case_insensitive_paths: bool,
}

/// One rule.
#[derive(Clone, Debug)]
struct Route {
    host: Option<HostPattern>,
    path: PathPattern,
    methods: Option<Vec<Method>>,
    requirement: Requirement,
}

/// A host: exact (without port, any case) or `*.example.com` (one or more labels before).
#[derive(Clone, Debug)]
enum HostPattern {
    Exact(String),
    Suffix(String),
}

/// A path: segments, each literal or a `{param}`, and a last `*` for "this and below".
#[derive(Clone, Debug)]
struct PathPattern {
    /// As written (routes for the very same path are told apart by it).
    source: String,
    segments: Vec<Segment>,
    below: bool,
}

#[derive(Clone, Debug)]
enum Segment {
    Literal(String),
    Param,
}

/// Why a policy file is refused: one line, naming where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    line: usize,
    message: String,
}

impl PolicyError {
    /// The line (from 1) the error is on; 0 when it concerns the whole file.
    pub fn line(&self) -> usize {
        self.line
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            0 => write!(f, "{}", self.message),
            line => write!(f, "line {line}: {}", self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    admin_bypass: bool,
    #[serde(default)]
    case_insensitive_paths: bool,
    #[serde(default)]
    route: Vec<Spanned<RawRoute>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    host: Option<Spanned<String>>,
    path: Spanned<String>,
    methods: Option<Spanned<Vec<String>>>,
    allow: Option<Spanned<String>>,
    scopes_any: Option<Spanned<Vec<String>>>,
    scopes_all: Option<Spanned<Vec<String>>>,
}

/// What is wrong, and where: the byte offset of the value at fault.
type Fault = (usize, String);

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

impl Policy {
    /// Reads a policy from TOML: `admin_bypass` (admins pass scope checks),
    /// `case_insensitive_paths` (for services that route without regard to case), then `[[route]]`
    /// tables, each with a `path` (`/exact`, `/{param}/segments`, `/prefix/*`), optionally a
    /// `host` (`api.example.com`, `*.example.com`) and `methods`, and exactly one of `allow`
    /// (`"public"`, `"authenticated"`, `"internal"`), `scopes_any` or `scopes_all`.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|error| PolicyError {
            line: error.span().map_or(0, |span| line_of(text, span.start)),
            message: error.message().trim().to_owned(),
        })?;
        if raw.route.is_empty() {
            return Err(PolicyError {
                line: 0,
                message: "no [[route]]: every request would be refused".to_owned(),
            });
        }
        let mut routes = Vec::with_capacity(raw.route.len());
        for spanned in raw.route {
            let start = spanned.span().start;
            let route =
                Route::read(spanned.into_inner(), start).map_err(|(at, message)| PolicyError {
                    line: line_of(text, at),
                    message,
                })?;
            routes.push(route);
        }
        if raw.case_insensitive_paths {
            for route in &mut routes {
                route.path.source.make_ascii_lowercase();
                for segment in &mut route.path.segments {
                    if let Segment::Literal(literal) = segment {
                        literal.make_ascii_lowercase();
                    }
                }
            }
        }
        Ok(Self {
            routes,
            admin_bypass: raw.admin_bypass,
            case_insensitive_paths: raw.case_insensitive_paths,
        })
    }

    /// Whether admins (by [`Client::is_admin`](authstar::Client::is_admin)) pass scope checks.
    pub fn admin_bypass(&self) -> bool {
        self.admin_bypass
    }

    /// What a request for `path` with `method` on `host` (without port; `None` when unknown)
    /// must meet; `None` refuses it. The path is matched as the service behind will route it:
    /// percent-decoded, one trailing `/` dropped (and, with `case_insensitive_paths`, in lower
    /// case). A path that could be read two ways is refused: dot segments, `//`, `;`, `#`, `\`,
    /// control characters, or an encoded `/`, `\`, `.`, `%` or control character (another
    /// decoding, by a framework or a proxy, would give another path).
    ///
    /// The first route whose host, path and method match decides. A route whose path matches
    /// but whose `methods` do not list the method closes that path to every other route but
    /// those written for the very same path: `DELETE /reports/42` is refused when
    /// `/reports/{id}` lists only `GET`, rather than falling to a later `/*`. `HEAD` is what
    /// `GET` allows. A request with no known host is refused when any route names a host.
    pub fn requirement(
        &self,
        method: &Method,
        host: Option<&str>,
        path: &str,
    ) -> Option<&Requirement> {
        let mut path = canonical(path)?;
        if self.case_insensitive_paths {
            path.make_ascii_lowercase();
        }
        let host = host.map(|host| host.trim_end_matches('.'));
        if host.is_none() && self.routes.iter().any(|route| route.host.is_some()) {
            return None;
        }
        let segments: Vec<&str> = path[1..].split('/').collect();
        let mut closed_to: Option<&str> = None;
        for route in &self.routes {
            if let Some(pattern) = closed_to
                && route.path.source != pattern
            {
                continue;
            }
            if !route.host_matches(host) || !route.path.matches(&segments) {
                continue;
            }
            if route.allows(method) {
                return Some(&route.requirement);
            }
            closed_to.get_or_insert(&route.path.source);
        }
        None
    }
}

/// The path the service behind routes on, or `None` when it could be read two ways.
fn canonical(path: &str) -> Option<String> {
    if !path.starts_with('/') || path.contains("//") {
        return None;
    }
    let mut decoded = Vec::with_capacity(path.len());
    let mut bytes = path.bytes();
    while let Some(byte) = bytes.next() {
        let byte = match byte {
            b'%' => {
                let high = char::from(bytes.next()?).to_digit(16)?;
                let low = char::from(bytes.next()?).to_digit(16)?;
                let value = u8::try_from(high * 16 + low).ok()?;
                // An encoded separator, dot, escape or control: decoded once more (by a
                // framework, a proxy) it is another path.
                if matches!(value, b'/' | b'\\' | b'.' | b'%' | b';' | b'#' | b'?')
                    || value.is_ascii_control()
                {
                    return None;
                }
                value
            }
            b'\\' | b';' | b'#' => return None,
            byte if byte.is_ascii_control() => return None,
            byte => byte,
        };
        decoded.push(byte);
    }
    let mut decoded = String::from_utf8(decoded).ok()?;
    if decoded[1..]
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return None;
    }
    if decoded.len() > 1 && decoded.ends_with('/') {
        decoded.pop();
    }
    Some(decoded)
}

impl Route {
    /// The route `raw` describes; `start` is where its table begins (for what is missing).
    fn read(raw: RawRoute, start: usize) -> Result<Self, Fault> {
        let requirement = match (raw.allow, raw.scopes_any, raw.scopes_all) {
            (Some(allow), None, None) => match allow.get_ref().as_str() {
                "public" => Requirement::Public,
                "authenticated" => Requirement::Authenticated,
                "internal" => Requirement::Internal,
                other => {
                    return Err((
                        allow.span().start,
                        format!(
                            "allow = {other:?}: use \"public\", \"authenticated\" or \"internal\""
                        ),
                    ));
                }
            },
            (None, Some(scopes), None) => Requirement::ScopesAny(scopes_of(scopes)?),
            (None, None, Some(scopes)) => Requirement::ScopesAll(scopes_of(scopes)?),
            (None, None, None) => {
                return Err((
                    start,
                    "say what the route needs: allow, scopes_any or scopes_all".to_owned(),
                ));
            }
            _ => {
                return Err((
                    start,
                    "give one of allow, scopes_any and scopes_all".to_owned(),
                ));
            }
        };
        let methods = match raw.methods {
            None => None,
            Some(names) => {
                let offset = names.span().start;
                if names.get_ref().is_empty() {
                    return Err((
                        offset,
                        "methods = []: no request could match; leave it out for all".to_owned(),
                    ));
                }
                let mut methods = Vec::with_capacity(names.get_ref().len());
                for name in names.into_inner() {
                    match Method::from_bytes(name.as_bytes()) {
                        Ok(method) if name.bytes().all(|b| b.is_ascii_uppercase()) => {
                            methods.push(method)
                        }
                        _ => {
                            return Err((
                                offset,
                                format!("method {name:?}: write it in capitals, as GET or POST"),
                            ));
                        }
                    }
                }
                Some(methods)
            }
        };
        let host = match raw.host {
            Some(host) => {
                Some(HostPattern::read(host.get_ref()).map_err(|why| (host.span().start, why))?)
            }
            None => None,
        };
        let path =
            PathPattern::read(raw.path.get_ref()).map_err(|why| (raw.path.span().start, why))?;
        Ok(Self {
            host,
            path,
            methods,
            requirement,
        })
    }

    fn allows(&self, method: &Method) -> bool {
        self.methods.as_ref().is_none_or(|methods| {
            methods.contains(method) || (method == Method::HEAD && methods.contains(&Method::GET))
        })
    }

    fn host_matches(&self, host: Option<&str>) -> bool {
        match (&self.host, host) {
            (None, _) => true,
            (Some(pattern), Some(host)) => pattern.matches(host),
            (Some(_), None) => false,
        }
    }
}

fn scopes_of(scopes: Spanned<Vec<String>>) -> Result<Vec<String>, Fault> {
    let at = scopes.span().start;
    let scopes = scopes.into_inner();
    if scopes.is_empty() {
        let why = "an empty scope list admits nobody (any of none) or everybody (all of none)";
        return Err((at, why.to_owned()));
    }
    if let Some(bad) = scopes.iter().find(|scope| !authstar::is_scope_token(scope)) {
        return Err((at, format!("scope {bad:?} is not an RFC 6749 scope token")));
    }
    Ok(scopes)
}

impl HostPattern {
    fn read(host: &str) -> Result<Self, String> {
        let lower = host.to_ascii_lowercase();
        let valid = |name: &str| {
            !name.is_empty()
                && name.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        };
        match lower.strip_prefix("*.") {
            Some(suffix) if valid(suffix) => Ok(Self::Suffix(format!(".{suffix}"))),
            None if valid(&lower) => Ok(Self::Exact(lower)),
            _ => Err(format!(
                "host {host:?}: write a host name without port (api.example.com) or *.example.com"
            )),
        }
    }

    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(name) => host.eq_ignore_ascii_case(name),
            Self::Suffix(suffix) => {
                host.len() > suffix.len()
                    && host
                        .get(host.len() - suffix.len()..)
                        .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
            }
        }
    }
}

impl PathPattern {
    fn read(path: &str) -> Result<Self, String> {
        let bad = |why: &str| Err(format!("path {path:?}: {why}"));
        let Some(rest) = path.strip_prefix('/') else {
            return bad("start it with /");
        };
        if path.contains(['?', '#', '%', ';']) {
            return bad("write the path decoded, without query, fragment or ;");
        }
        if canonical(path).is_none() || (path.len() > 1 && path.ends_with('/')) {
            return bad("no empty or dot segments, and no trailing /");
        }
        let mut parts: Vec<&str> = rest.split('/').collect();
        let below = parts.last() == Some(&"*");
        if below {
            parts.pop();
        }
        let mut segments = Vec::with_capacity(parts.len());
        for part in parts {
            if part.is_empty() && segments.is_empty() && !below {
                // "/": the root alone.
                segments.push(Segment::Literal(String::new()));
                continue;
            }
            if part.starts_with('{') && part.ends_with('}') && part.len() > 2 {
                segments.push(Segment::Param);
            } else if part.contains(['{', '}', '*']) {
                return bad("a segment is a literal, a whole {param}, or a last *");
            } else {
                segments.push(Segment::Literal(part.to_owned()));
            }
        }
        Ok(Self {
            source: path.to_owned(),
            segments,
            below,
        })
    }

    fn matches(&self, segments: &[&str]) -> bool {
        if segments.len() < self.segments.len()
            || (!self.below && segments.len() != self.segments.len())
        {
            return false;
        }
        // "/prefix/*" takes "/prefix" and everything below it.
        self.segments
            .iter()
            .zip(segments)
            .all(|(pattern, segment)| match pattern {
                Segment::Literal(literal) => literal == segment,
                Segment::Param => !segment.is_empty(),
            })
    }
}

#[cfg(test)]
mod tests;

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
mod tests {
    use super::*;

    fn one(route: &str) -> Policy {
        Policy::from_toml(&format!("[[route]]\n{route}\n")).unwrap()
    }

    #[test]
    fn paths_match_exactly_by_param_or_below_a_prefix() {
        let get = &Method::GET;
        let exact = one("path = \"/reports\"\nallow = \"public\"");
        // One trailing slash is the same path (as most frameworks route it).
        for same in ["/reports", "/reports/"] {
            assert!(exact.requirement(get, None, same).is_some(), "{same}");
        }
        for other in ["/reports/1", "/report", "/", "/reports//"] {
            assert!(exact.requirement(get, None, other).is_none(), "{other}");
        }
        let param = one("path = \"/reports/{id}/pdf\"\nallow = \"public\"");
        assert!(param.requirement(get, None, "/reports/7/pdf").is_some());
        for other in ["/reports//pdf", "/reports/7", "/reports/7/pdf/x"] {
            assert!(param.requirement(get, None, other).is_none(), "{other}");
        }
        let below = one("path = \"/static/*\"\nallow = \"public\"");
        for path in ["/static", "/static/", "/static/a/b.css"] {
            assert!(below.requirement(get, None, path).is_some(), "{path}");
        }
        assert!(below.requirement(get, None, "/staticx").is_none());
        let everything = one("path = \"/*\"\nallow = \"authenticated\"");
        assert!(everything.requirement(get, None, "/").is_some());
        assert!(everything.requirement(get, None, "/a/b").is_some());
        let root = one("path = \"/\"\nallow = \"public\"");
        assert!(root.requirement(get, None, "/").is_some());
        assert!(root.requirement(get, None, "/a").is_none());
    }

    #[test]
    fn a_path_that_reads_two_ways_matches_nothing() {
        let everything = one("path = \"/*\"\nallow = \"public\"");
        for path in [
            "/a/../b",
            "/a/./b",
            "/..",
            "//a",
            "/a%2fb",
            "/a%2Fb",
            "/a%2e%2e/b",
            "/a\\b",
            "a",
            "",
            "/a%00",
            "/a;b",
            "/a#b",
            "/a%3bb",
            "/a%23b",
            "/a%3Fb",
            "/a%252fb",
            "/a%5C",
            "/a%zz",
            "/a%2",
            "/a%ff",
            "/a\tb",
        ] {
            assert!(
                everything.requirement(&Method::GET, None, path).is_none(),
                "{path:?}"
            );
        }
    }

    #[test]
    fn paths_are_matched_decoded_as_the_service_routes_them() {
        let policy = Policy::from_toml(
            "[[route]]\npath = \"/reports/export\"\nscopes_all = [\"export\"]\n\
             [[route]]\npath = \"/internal/*\"\nallow = \"internal\"\n\
             [[route]]\npath = \"/*\"\nallow = \"public\"\n",
        )
        .unwrap();
        let get = &Method::GET;
        for path in ["/reports/%65xport", "/reports/export/", "/%72eports/export"] {
            assert!(
                matches!(
                    policy.requirement(get, None, path),
                    Some(Requirement::ScopesAll(_))
                ),
                "{path}"
            );
        }
        assert_eq!(
            policy.requirement(get, None, "/%69nternal/x"),
            Some(&Requirement::Internal)
        );
        // Case stays significant unless the policy says otherwise.
        assert_eq!(
            policy.requirement(get, None, "/REPORTS/export"),
            Some(&Requirement::Public)
        );
        let folded = Policy::from_toml(
            "case_insensitive_paths = true\n[[route]]\npath = \"/Reports/Export\"\n\
             scopes_all = [\"export\"]\n[[route]]\npath = \"/*\"\nallow = \"public\"\n",
        )
        .unwrap();
        for path in ["/REPORTS/export", "/reports/EXPORT", "/reports/export"] {
            assert!(
                matches!(
                    folded.requirement(get, None, path),
                    Some(Requirement::ScopesAll(_))
                ),
                "{path}"
            );
        }
    }

    #[test]
    fn a_method_a_route_does_not_list_is_refused_not_passed_to_a_weaker_route() {
        let policy = Policy::from_toml(
            "[[route]]\npath = \"/reports/{id}\"\nmethods = [\"GET\"]\nscopes_any = [\"read\"]\n\
             [[route]]\npath = \"/reports/{id}\"\nmethods = [\"DELETE\"]\nscopes_any = [\"admin\"]\n\
             [[route]]\npath = \"/*\"\nallow = \"authenticated\"\n",
        )
        .unwrap();
        let any = |name: &str| Some(Requirement::ScopesAny(vec![name.to_owned()]));
        assert_eq!(
            policy
                .requirement(&Method::GET, None, "/reports/1")
                .cloned(),
            any("read")
        );
        assert_eq!(
            policy
                .requirement(&Method::HEAD, None, "/reports/1")
                .cloned(),
            any("read")
        );
        assert_eq!(
            policy
                .requirement(&Method::DELETE, None, "/reports/1")
                .cloned(),
            any("admin")
        );
        for method in [Method::PUT, Method::POST, Method::PATCH, Method::OPTIONS] {
            assert_eq!(
                policy.requirement(&method, None, "/reports/1"),
                None,
                "{method}"
            );
        }
        assert_eq!(
            policy.requirement(&Method::PUT, None, "/other"),
            Some(&Requirement::Authenticated)
        );
    }

    #[test]
    fn hosts_match_without_case_and_wildcards_need_a_label() {
        let exact = one("host = \"API.example.com\"\npath = \"/*\"\nallow = \"public\"");
        assert!(
            exact
                .requirement(&Method::GET, Some("api.EXAMPLE.com"), "/")
                .is_some()
        );
        assert!(
            exact
                .requirement(&Method::GET, Some("example.com"), "/")
                .is_none()
        );
        assert!(
            exact.requirement(&Method::GET, None, "/").is_none(),
            "unknown host"
        );
        let wild = one("host = \"*.example.com\"\npath = \"/*\"\nallow = \"public\"");
        assert!(
            wild.requirement(&Method::GET, Some("a.b.example.com"), "/")
                .is_some()
        );
        assert!(
            wild.requirement(&Method::GET, Some("example.com"), "/")
                .is_none()
        );
        assert!(
            wild.requirement(&Method::GET, Some("badexample.com"), "/")
                .is_none()
        );
    }

    #[test]
    fn the_first_matching_route_decides() {
        let policy = Policy::from_toml(
            "[[route]]\npath = \"/a/open\"\nallow = \"public\"\n\
             [[route]]\npath = \"/a/*\"\nscopes_all = [\"x\", \"y\"]\n",
        )
        .unwrap();
        assert_eq!(
            policy.requirement(&Method::GET, None, "/a/open"),
            Some(&Requirement::Public)
        );
        assert_eq!(
            policy.requirement(&Method::GET, None, "/a/other"),
            Some(&Requirement::ScopesAll(vec!["x".into(), "y".into()]))
        );
    }

    #[test]
    fn each_broken_file_gets_one_line_naming_where() {
        for (text, line, says) in [
            ("[[route]]\npath = \"/a\"\n", 1, "say what the route needs"),
            (
                "[[route]]\npath = \"/a\"\nallow = \"x\"\n",
                3,
                "allow = \"x\"",
            ),
            (
                "\n\n[[route]]\npath = \"a\"\nallow = \"public\"\n",
                4,
                "start it with /",
            ),
            (
                "[[route]]\npath = \"/a\"\nscopes_any = []\n",
                3,
                "empty scope list",
            ),
            (
                "[[route]]\npath = \"/a\"\nscopes_any = [\"a b\"]\n",
                3,
                "scope token",
            ),
            (
                "[[route]]\npath = \"/a\"\nallow = \"public\"\nscopes_any = [\"a\"]\n",
                1,
                "one of",
            ),
            (
                "[[route]]\npath = \"/a\"\nallow = \"public\"\nmethods = [\"get\"]\n",
                4,
                "capitals",
            ),
            (
                "[[route]]\npath = \"/a/*/b\"\nallow = \"public\"\n",
                2,
                "last *",
            ),
            (
                "[[route]]\npath = \"/a/../b\"\nallow = \"public\"\n",
                2,
                "dot",
            ),
            (
                "[[route]]\nhost = \"a:80\"\npath = \"/\"\nallow = \"public\"\n",
                2,
                "without port",
            ),
            (
                "[[route]]\npath = \"/a\"\nalow = \"public\"\n",
                3,
                "unknown field",
            ),
            ("[[route]]\npath = \"/a\nallow = \"public\"\n", 2, ""),
            ("admin_bypass = true\n", 0, "no [[route]]"),
        ] {
            let error = Policy::from_toml(text).unwrap_err();
            assert_eq!(error.line(), line, "{text:?}: {error}");
            assert!(error.to_string().contains(says), "{text:?}: {error}");
            assert!(!error.to_string().contains('\n'), "one line: {error}");
        }
    }
}

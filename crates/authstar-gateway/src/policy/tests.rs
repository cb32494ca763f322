//! The route policy: matching, refusals, and the errors of broken files.

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

//! Optional authentication: separate credentials for reading, writing and administering,
//! read from a YAML file (`--auth-file`) and re-read on reload:
//!
//! ```yaml
//! read:
//!   bearer_tokens: ["grafana-token"]
//!   basic_auth: {grafana: "s3cret"}
//! write:
//!   bearer_tokens: ["agent-token"]
//! admin:
//!   basic_auth: {ops: "another-s3cret"}
//! ```
//!
//! A request carries `Authorization: Bearer <token>` (or InfluxDB v2's `Token <token>`)
//! or `Authorization: Basic ...`. An admin
//! credential may do everything; read and write credentials only their own kind. Secrets are
//! compared in constant time (`subtle`), every configured secret of a kind being compared,
//! so the time taken tells neither which secret matched nor how much of one did (only
//! whether the lengths differ). A missing or unknown credential is 401 with a
//! `WWW-Authenticate` challenge; a valid credential of the wrong kind is 403.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use subtle::ConstantTimeEq;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Query and status endpoints, `/metrics`.
    Read,
    /// Push ingestion.
    Write,
    /// Deleting series, reloading the configuration.
    Admin,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

/// The credentials of one role.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleCredentials {
    /// Accepted bearer tokens.
    #[serde(default)]
    pub bearer_tokens: Vec<String>,
    /// Accepted basic-auth users and their passwords.
    #[serde(default)]
    pub basic_auth: BTreeMap<String, String>,
}

/// The credentials file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// May read.
    #[serde(default)]
    pub read: RoleCredentials,
    /// May write.
    #[serde(default)]
    pub write: RoleCredentials,
    /// May do everything.
    #[serde(default)]
    pub admin: RoleCredentials,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No credential, or one that is not configured: 401.
    Unauthenticated,
    /// A valid credential of another role: 403.
    Forbidden(Role),
}

impl Denied {
    /// The plain-text body of the refusal.
    pub fn message(self) -> String {
        match self {
            Denied::Unauthenticated => {
                "Unauthorized: this server needs credentials (Authorization: Bearer or Basic)\n"
                    .into()
            }
            Denied::Forbidden(role) => format!(
                "Forbidden: this credential may not {} (it is not a {} or admin credential)\n",
                match role {
                    Role::Read => "read",
                    Role::Write => "write",
                    Role::Admin => "administer",
                },
                role.name()
            ),
        }
    }
}

/// Why a credentials file was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    /// Not readable.
    #[error("cannot read the auth file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a valid credentials file.
    #[error("invalid auth file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What and where.
        message: String,
    },
}

/// A credential presented by a request.
enum Presented<'a> {
    Bearer(&'a [u8]),
    Basic(Vec<u8>, Vec<u8>),
}

impl Credentials {
    /// Reads and checks a credentials file. A file with no credential at all is refused:
    /// it would lock everyone out.
    pub fn load(path: &Path) -> Result<Credentials, AuthFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Credentials::parse(&text).map_err(|message| AuthFileError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Checks credentials text.
    pub fn parse(text: &str) -> Result<Credentials, String> {
        let c: Credentials = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let roles = [&c.read, &c.write, &c.admin];
        if roles
            .iter()
            .all(|r| r.bearer_tokens.is_empty() && r.basic_auth.is_empty())
        {
            return Err("no credentials: give read, write and/or admin credentials".into());
        }
        for r in roles {
            if r.bearer_tokens.iter().any(String::is_empty)
                || r.basic_auth
                    .iter()
                    .any(|(u, p)| u.is_empty() || p.is_empty() || u.contains(':'))
            {
                return Err("empty token, user or password (or a user with ':')".into());
            }
        }
        Ok(c)
    }

    /// Whether the `Authorization` header's value (if any) allows `role`.
    pub fn check(&self, authorization: Option<&[u8]>, role: Role) -> Result<(), Denied> {
        let Some(presented) = authorization.and_then(parse_header) else {
            return Err(Denied::Unauthenticated);
        };
        // Every role is checked, so that the work done does not depend on which matched.
        let admin = matches(&self.admin, &presented);
        let read = matches(&self.read, &presented);
        let write = matches(&self.write, &presented);
        let allowed = admin
            || match role {
                Role::Read => read,
                Role::Write => write,
                Role::Admin => false,
            };
        if allowed {
            Ok(())
        } else if read || write {
            Err(Denied::Forbidden(role))
        } else {
            Err(Denied::Unauthenticated)
        }
    }
}

fn parse_header(value: &[u8]) -> Option<Presented<'_>> {
    let space = value.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = value.split_at(space);
    let rest = rest.get(1..)?.trim_ascii();
    // InfluxDB v2 clients (Telegraf's influxdb_v2 output, the client libraries) send
    // their API token as `Token <token>`: the same secret as a bearer token
    if scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"token") {
        return Some(Presented::Bearer(rest));
    }
    if scheme.eq_ignore_ascii_case(b"basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        let (user, pass) = decoded.split_at(colon);
        return Some(Presented::Basic(user.to_vec(), pass.get(1..)?.to_vec()));
    }
    None
}

/// Whether `p` is one of `creds`, comparing against every configured secret in constant
/// time.
fn matches(creds: &RoleCredentials, p: &Presented<'_>) -> bool {
    let mut found = subtle::Choice::from(0u8);
    match p {
        Presented::Bearer(token) => {
            for t in &creds.bearer_tokens {
                found |= t.as_bytes().ct_eq(token);
            }
        }
        Presented::Basic(user, pass) => {
            for (u, pw) in &creds.basic_auth {
                found |= u.as_bytes().ct_eq(user) & pw.as_bytes().ct_eq(pass);
            }
        }
    }
    found.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> Vec<u8> {
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        format!("Basic {enc}").into_bytes()
    }

    #[test]
    fn roles_and_refusals() {
        let c = Credentials::parse(
            "read:\n  bearer_tokens: [r1]\n  basic_auth: {grafana: pw}\nwrite:\n  bearer_tokens: [w1]\nadmin:\n  bearer_tokens: [a1]\n",
        )
        .unwrap();
        assert_eq!(c.check(Some(b"Bearer r1"), Role::Read), Ok(()));
        assert_eq!(c.check(Some(b"bearer  r1 "), Role::Read), Ok(()));
        assert_eq!(c.check(Some(&basic("grafana", "pw")), Role::Read), Ok(()));
        assert_eq!(
            c.check(Some(&basic("grafana", "px")), Role::Read),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            c.check(Some(b"Bearer r1"), Role::Write),
            Err(Denied::Forbidden(Role::Write))
        );
        assert_eq!(
            c.check(Some(b"Bearer w1"), Role::Admin),
            Err(Denied::Forbidden(Role::Admin))
        );
        for role in [Role::Read, Role::Write, Role::Admin] {
            assert_eq!(c.check(Some(b"Bearer a1"), role), Ok(()));
        }
        assert_eq!(c.check(None, Role::Read), Err(Denied::Unauthenticated));
        assert_eq!(
            c.check(Some(b"Bearer r"), Role::Read),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            c.check(Some(b"Basic !!!"), Role::Read),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            c.check(Some(b"Digest x"), Role::Read),
            Err(Denied::Unauthenticated)
        );
        assert!(Denied::Forbidden(Role::Admin)
            .message()
            .contains("administer"));
    }

    #[test]
    fn the_readme_example_parses() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("cat > auth.yml <<'YAML'\n").unwrap();
        let body = &readme[start..];
        let body = &body[body.find('\n').unwrap() + 1..body.find("\nYAML\n").unwrap()];
        let c = Credentials::parse(body).unwrap();
        assert_eq!(c.read.basic_auth["grafana"], "change-me");
        assert_eq!(c.write.bearer_tokens, ["agent-token"]);
        assert_eq!(c.check(Some(b"Bearer agent-token"), Role::Write), Ok(()));
    }

    #[test]
    fn files_without_credentials_or_with_unknown_keys_are_refused() {
        assert!(Credentials::parse("read: {}\n").is_err());
        let e = Credentials::parse("read:\n  tokens: [x]\n").unwrap_err();
        assert!(e.contains("tokens") && e.contains("line 2"), "{e}");
        assert!(Credentials::parse("read:\n  bearer_tokens: ['']\n").is_err());
    }
}

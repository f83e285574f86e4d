//! A relying party (an OAuth client) and its registration rules.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use super::clock::UnixTime;
use super::redirect_uri::RedirectUri;
use super::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthMethod {
    #[serde(rename = "client_secret_basic")]
    ClientSecretBasic,
    #[serde(rename = "client_secret_post")]
    ClientSecretPost,
    #[serde(rename = "none")]
    None,
    /// A JWT signed with the client's own private key (RFC 7523, OIDC Core §9).
    #[serde(rename = "private_key_jwt")]
    PrivateKeyJwt,
    /// A JWT MACed with the client's secret (RFC 7523, OIDC Core §9).
    #[serde(rename = "client_secret_jwt")]
    ClientSecretJwt,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::ClientSecretJwt => "client_secret_jwt",
        }
    }

    pub const ALL: [AuthMethod; 5] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::ClientSecretJwt,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::None,
    ];

    /// Whether the client holds a secret that Etupass issued.
    pub fn uses_issued_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic
                | AuthMethod::ClientSecretPost
                | AuthMethod::ClientSecretJwt
        )
    }
}

impl FromStr for AuthMethod {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "client_secret_basic" => Ok(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Ok(AuthMethod::ClientSecretPost),
            "none" => Ok(AuthMethod::None),
            "private_key_jwt" => Ok(AuthMethod::PrivateKeyJwt),
            "client_secret_jwt" => Ok(AuthMethod::ClientSecretJwt),
            other => Err(Invalid::new(format!(
                "unknown authentication method '{other}' (expected client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt or none)"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => DEVICE_CODE_GRANT,
        }
    }
}

/// RFC 8628 §3.4.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl FromStr for GrantType {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "authorization_code" => Ok(GrantType::AuthorizationCode),
            "refresh_token" => Ok(GrantType::RefreshToken),
            "client_credentials" => Ok(GrantType::ClientCredentials),
            DEVICE_CODE_GRANT | "device_code" => Ok(GrantType::DeviceCode),
            other => Err(Invalid::new(format!(
                "unknown grant type '{other}' (expected authorization_code, refresh_token, client_credentials or device_code)"
            ))),
        }
    }
}

/// How access tokens look to the relying party and its resource servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessTokenFormat {
    /// A random string, meaningful only to Etupass (introspection).
    Opaque,
    /// A signed JWT (RFC 9068) that resource servers can verify offline.
    Jwt,
}

impl AccessTokenFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessTokenFormat::Opaque => "opaque",
            AccessTokenFormat::Jwt => "jwt",
        }
    }
}

impl FromStr for AccessTokenFormat {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "opaque" => Ok(AccessTokenFormat::Opaque),
            "jwt" => Ok(AccessTokenFormat::Jwt),
            other => Err(Invalid::new(format!(
                "unknown access token format '{other}' (expected opaque or jwt)"
            ))),
        }
    }
}

/// The algorithms an ID token can be signed with; one key of each is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub enum SigningAlg {
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SigningAlg {
    type Err = Invalid;
    fn from_str(raw: &str) -> Result<Self, Invalid> {
        SigningAlg::ALL
            .into_iter()
            .find(|a| a.as_str() == raw)
            .ok_or_else(|| {
                Invalid::new(format!(
                    "unknown signing algorithm '{raw}' (expected RS256, ES256 or EdDSA)"
                ))
            })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    #[serde(skip)]
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub token_endpoint_auth_method: AuthMethod,
    pub public: bool,
    pub first_party: bool,
    pub id_token_signed_response_alg: SigningAlg,
    pub access_token_format: AccessTokenFormat,
    /// Where logout tokens are POSTed when a session ends (Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<RedirectUri>,
    /// `Some(sector)` for pairwise subjects (OIDC Core §8.1), `None` for public ones.
    pub pairwise_sector: Option<String>,
    /// `private_key_jwt`: the client's public keys, inline (a JWK Set)…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// …or where to fetch them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `client_secret_jwt`: the secret is derived from this salt and the server key.
    #[serde(skip)]
    pub secret_salt: Option<String>,
    /// Authorization requests must be pushed first (RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
    /// Refresh-token lifetimes of this client, when not the configured defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_lifetimes: Option<RefreshLifetimes>,
    /// RFC 7592: the digest of the registration access token (dynamic clients only).
    #[serde(skip)]
    pub registration_token_hash: Option<String>,
    /// Alumni may sign in to it (an administrator's choice, never a registrant's).
    pub open_to_alumni: bool,
    /// Parent accounts may sign in to it (an administrator's choice, never a registrant's).
    pub open_to_parents: bool,
    /// May obtain `etupass:attributes` tokens and push attributes (administrator's choice).
    pub attribute_writer: bool,
    /// The pushed attributes it receives as claims (`etupass_attributes`).
    pub released_attributes: Vec<String>,
    /// The app passwords this service may check (the mail server: mail; the RADIUS
    /// server: wifi). An administrator's choice, never a registrant's.
    pub app_password_purposes: Vec<super::app_password::Purpose>,
    /// May introspect tokens issued to other clients (a resource server such as the IMAP
    /// server). An administrator's choice, never a registrant's.
    pub may_introspect: bool,
    pub created_at: UnixTime,
}

/// How long a refresh token lives unused (idle) and at most (absolute), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RefreshLifetimes {
    pub idle: u64,
    pub absolute: u64,
}

impl Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether this person may use this relying party: alumni and parents only those
    /// opened to them.
    pub fn admits(&self, identity: &super::identity::Identity) -> bool {
        identity.admitted_by(self.open_to_alumni, self.open_to_parents)
    }

    pub fn registered_redirect_uri(&self, candidate: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|u| u.matches(candidate))
    }
}

/// A registration request, checked by [`NewClient::validate`] before it is stored.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub auth_method: AuthMethod,
    pub public: bool,
    pub first_party: bool,
    pub id_token_alg: SigningAlg,
    pub access_token_format: AccessTokenFormat,
    pub backchannel_logout_uri: Option<RedirectUri>,
    /// Pairwise subjects: the sector is the redirect URIs' host (they must share one).
    pub pairwise: bool,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<RedirectUri>,
    pub require_par: bool,
    pub refresh_lifetimes: Option<RefreshLifetimes>,
    pub open_to_alumni: bool,
    pub open_to_parents: bool,
    pub attribute_writer: bool,
    pub released_attributes: Vec<String>,
    pub app_password_purposes: Vec<super::app_password::Purpose>,
    pub may_introspect: bool,
}

impl NewClient {
    /// A confidential authorization-code client with the defaults of `client add`; the
    /// other fields are set with struct-update syntax.
    pub fn new(name: impl Into<String>) -> NewClient {
        NewClient {
            name: name.into(),
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            auth_method: AuthMethod::ClientSecretBasic,
            public: false,
            first_party: false,
            id_token_alg: SigningAlg::RS256,
            access_token_format: AccessTokenFormat::Opaque,
            backchannel_logout_uri: None,
            pairwise: false,
            jwks: None,
            jwks_uri: None,
            require_par: false,
            refresh_lifetimes: None,
            open_to_alumni: false,
            open_to_parents: false,
            attribute_writer: false,
            released_attributes: Vec::new(),
            app_password_purposes: Vec::new(),
            may_introspect: false,
        }
    }

    /// The sector of a pairwise client: the one host all its redirect URIs share.
    pub fn pairwise_sector(&self) -> Result<Option<String>, Invalid> {
        if !self.pairwise {
            return Ok(None);
        }
        let hosts: std::collections::BTreeSet<String> = self
            .redirect_uris
            .iter()
            .filter_map(|u| url::Url::parse(u.as_str()).ok())
            .filter_map(|u| u.host_str().map(str::to_string))
            .collect();
        match hosts.len() {
            1 => Ok(hosts.into_iter().next()),
            _ => Err(Invalid::new(
                "a pairwise client's redirect URIs must all be on one host (its sector)",
            )),
        }
    }
    pub fn validate(&self) -> Result<(), Invalid> {
        self.pairwise_sector()?;
        if self.name.trim().is_empty() {
            return Err(Invalid::new("the client needs a name"));
        }
        if self.public != (self.auth_method == AuthMethod::None) {
            return Err(Invalid::new(
                "a public client authenticates with 'none', and only a public client may",
            ));
        }
        if self.grant_types.is_empty() {
            return Err(Invalid::new("the client needs at least one grant type"));
        }
        if self.grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty()
        {
            return Err(Invalid::new(
                "an authorization_code client needs at least one --redirect-uri",
            ));
        }
        if self.public && self.grant_types.contains(&GrantType::ClientCredentials) {
            return Err(Invalid::new(
                "a public client cannot use client_credentials",
            ));
        }
        match (self.auth_method, &self.jwks, &self.jwks_uri) {
            (AuthMethod::PrivateKeyJwt, Some(_), Some(_)) => {
                return Err(Invalid::new("give jwks or jwks_uri, not both"))
            }
            (AuthMethod::PrivateKeyJwt, None, None) => {
                return Err(Invalid::new(
                    "a private_key_jwt client needs its public keys: jwks or jwks_uri",
                ))
            }
            (AuthMethod::PrivateKeyJwt, Some(jwks), None) => check_public_jwks(jwks)?,
            (AuthMethod::PrivateKeyJwt, None, Some(_)) => {}
            (_, None, None) => {}
            (_, _, _) => {
                return Err(Invalid::new(
                    "jwks and jwks_uri are only for private_key_jwt clients",
                ))
            }
        }
        for name in &self.released_attributes {
            super::attribute::check_name(name)?;
        }
        if let Some(lifetimes) = self.refresh_lifetimes {
            if lifetimes.idle == 0 || lifetimes.absolute < lifetimes.idle {
                return Err(Invalid::new(
                    "refresh-token lifetimes: the idle one must be positive and at most the absolute one",
                ));
            }
        }
        Ok(())
    }
}

/// A client's inline JWK Set: at least one key, public parts only (a private key sent to
/// us is a leak to refuse, not to store).
pub fn check_public_jwks(jwks: &serde_json::Value) -> Result<(), Invalid> {
    let keys = jwks
        .get("keys")
        .and_then(|k| k.as_array())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Invalid::new("jwks must be a JWK Set with at least one key"))?;
    for key in keys {
        if key.get("kty").and_then(|k| k.as_str()).is_none() {
            return Err(Invalid::new("every key in jwks needs a kty"));
        }
        if ["d", "p", "q", "k"]
            .iter()
            .any(|part| key.get(part).is_some())
        {
            return Err(Invalid::new(
                "jwks holds a private or symmetric key: publish only the public keys",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_client() -> NewClient {
        NewClient {
            redirect_uris: vec![RedirectUri::parse("https://mail.example.edu/cb").unwrap()],
            ..NewClient::new("webmail")
        }
    }

    #[test]
    fn a_confidential_client_validates() {
        assert!(new_client().validate().is_ok());
    }

    #[test]
    fn public_and_auth_method_must_agree() {
        let mut client = new_client();
        client.public = true;
        assert!(client.validate().is_err());
        client.auth_method = AuthMethod::None;
        assert!(client.validate().is_ok());
    }

    #[test]
    fn private_key_jwt_needs_public_keys_only() {
        let mut client = new_client();
        client.auth_method = AuthMethod::PrivateKeyJwt;
        assert!(client.validate().is_err(), "no keys");
        client.jwks = Some(
            serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "secret"}]}),
        );
        assert!(client.validate().is_err(), "a private key");
        client.jwks =
            Some(serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}));
        assert!(client.validate().is_ok());
        client.auth_method = AuthMethod::ClientSecretBasic;
        assert!(client.validate().is_err(), "keys for a secret client");
    }

    #[test]
    fn code_clients_need_a_redirect_uri() {
        let mut client = new_client();
        client.redirect_uris.clear();
        assert!(client.validate().is_err());
    }
}

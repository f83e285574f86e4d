//! Signing keys on disk, one PEM file each: `keys/<ALG>-<created_ms>-<kid>.pem`, mode 0600.
//!
//! For each algorithm the newest file is the active signing key; older files stay published
//! in the JWKS so tokens they signed still verify, until `etupass keys retire KID` deletes
//! them. The `kid` is the RFC 7638 thumbprint of the public key.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::ed::{EdCurve, EdKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::Jwk;
use josekit::jws::{EdDSA, JwsSigner, JwsVerifier, ES256, RS256};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::client::SigningAlg;

/// The RSA key sizes Etupass makes (`rsa_key_bits`). 2048 bits, the size the major
/// providers sign with, costs a third of a 3072-bit signature; NIST SP 800-57 gives
/// both past 2030 only at 3072.
pub const RSA_KEY_BITS: [u32; 3] = [2048, 3072, 4096];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("no published key has kid '{0}'")]
    UnknownKid(String),
    #[error("'{0}' is the active {1} key; rotate first, then retire it")]
    RetireActive(String, SigningAlg),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// One key file as found on disk.
#[derive(Debug, Clone)]
pub struct KeyFile {
    pub alg: SigningAlg,
    pub created_ms: i64,
    pub kid: String,
    pub path: PathBuf,
    pub active: bool,
}

struct ActiveKey {
    kid: String,
    signer: Box<dyn JwsSigner>,
}

/// The loaded key set: one signer per algorithm and the JWKS bytes, built once at start.
pub struct SigningKeys {
    active: HashMap<SigningAlg, ActiveKey>,
    /// Every published key, by kid: our own tokens come back (`id_token_hint`).
    verifiers: HashMap<String, Box<dyn JwsVerifier>>,
    jwks: Vec<u8>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: BTreeMap<_, _> = self.active.iter().map(|(a, k)| (a, &k.kid)).collect();
        f.debug_struct("SigningKeys")
            .field("active", &kids)
            .finish()
    }
}

impl SigningKeys {
    /// Loads `dir`, generating one key per algorithm for any algorithm that has none
    /// (so the first start of a fresh checkout needs nothing by hand); RSA keys of
    /// `rsa_bits`.
    pub fn load_or_generate(dir: &Path, rsa_bits: u32) -> Result<Self, KeyError> {
        fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
        #[cfg(unix)]
        if list(dir)?.is_empty() {
            // A directory we create (or find empty) is made owner-only, like its files.
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .map_err(|source| io(dir, source))?;
        }
        let files = list(dir)?;
        for alg in SigningAlg::ALL {
            if !files.iter().any(|f| f.alg == alg) {
                generate(dir, alg, rsa_bits)?;
            }
        }
        Self::load(dir)
    }

    pub fn load(dir: &Path) -> Result<Self, KeyError> {
        let mut active = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        for file in list(dir)? {
            let pem = fs::read(&file.path).map_err(|source| io(&file.path, source))?;
            let invalid = |message: String| KeyError::Invalid {
                path: file.path.clone(),
                message,
            };
            let (jwk, signer): (Jwk, Box<dyn JwsSigner>) = match file.alg {
                SigningAlg::RS256 => {
                    let pair = RsaKeyPair::from_pem(&pem).map_err(|e| invalid(e.to_string()))?;
                    let signer = RS256
                        .signer_from_pem(&pem)
                        .map_err(|e| invalid(e.to_string()))?;
                    (pair.to_jwk_public_key(), Box::new(signer))
                }
                SigningAlg::ES256 => {
                    let pair = EcKeyPair::from_pem(&pem, Some(EcCurve::P256))
                        .map_err(|e| invalid(e.to_string()))?;
                    let signer = ES256
                        .signer_from_pem(&pem)
                        .map_err(|e| invalid(e.to_string()))?;
                    (pair.to_jwk_public_key(), Box::new(signer))
                }
                SigningAlg::EdDSA => {
                    let pair = EdKeyPair::from_pem(&pem).map_err(|e| invalid(e.to_string()))?;
                    let signer = EdDSA
                        .signer_from_pem(&pem)
                        .map_err(|e| invalid(e.to_string()))?;
                    (pair.to_jwk_public_key(), Box::new(signer))
                }
            };
            let kid = thumbprint(&jwk).map_err(invalid)?;
            if kid != file.kid {
                return Err(invalid(format!(
                    "file name says kid {} but the key's thumbprint is {kid}",
                    file.kid
                )));
            }
            let verifier: Box<dyn JwsVerifier> = match file.alg {
                SigningAlg::RS256 => Box::new(
                    RS256
                        .verifier_from_jwk(&jwk)
                        .map_err(|e| invalid(e.to_string()))?,
                ),
                SigningAlg::ES256 => Box::new(
                    ES256
                        .verifier_from_jwk(&jwk)
                        .map_err(|e| invalid(e.to_string()))?,
                ),
                SigningAlg::EdDSA => Box::new(
                    EdDSA
                        .verifier_from_jwk(&jwk)
                        .map_err(|e| invalid(e.to_string()))?,
                ),
            };
            verifiers.insert(kid.clone(), verifier);
            published.push(public_jwk(jwk, file.alg, &kid));
            if file.active {
                active.insert(file.alg, ActiveKey { kid, signer });
            }
        }
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": published }))
            .expect("a JWKS always serializes");
        Ok(SigningKeys {
            active,
            verifiers,
            jwks,
        })
    }

    /// The JWKS document (public parts only), serialized once.
    pub fn jwks(&self) -> &[u8] {
        &self.jwks
    }

    pub fn active_kid(&self, alg: SigningAlg) -> Option<&str> {
        self.active.get(&alg).map(|k| k.kid.as_str())
    }

    pub(crate) fn verifier(&self, kid: &str) -> Option<&dyn JwsVerifier> {
        self.verifiers.get(kid).map(|v| v.as_ref())
    }

    pub(crate) fn signer(&self, alg: SigningAlg) -> Result<(&str, &dyn JwsSigner), KeyError> {
        self.active
            .get(&alg)
            .map(|k| (k.kid.as_str(), k.signer.as_ref()))
            .ok_or_else(|| KeyError::Sign(format!("no active {alg} key")))
    }
}

/// Every key file in `dir`, the newest of each algorithm marked active.
pub fn list(dir: &Path) -> Result<Vec<KeyFile>, KeyError> {
    let mut files = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(source) => return Err(io(dir, source)),
    };
    for entry in entries {
        let entry = entry.map_err(|source| io(dir, source))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".pem") else {
            continue;
        };
        let mut parts = stem.splitn(3, '-');
        let (Some(alg), Some(created), Some(kid)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let (Ok(alg), Ok(created_ms)) = (alg.parse::<SigningAlg>(), created.parse::<i64>()) else {
            continue;
        };
        files.push(KeyFile {
            alg,
            created_ms,
            kid: kid.to_string(),
            path,
            active: false,
        });
    }
    files.sort_by(|a, b| (a.alg, a.created_ms, &a.kid).cmp(&(b.alg, b.created_ms, &b.kid)));
    for alg in SigningAlg::ALL {
        if let Some(newest) = files.iter_mut().rev().find(|f| f.alg == alg) {
            newest.active = true;
        }
    }
    Ok(files)
}

/// Generates a new key for `alg` (RSA keys of `rsa_bits`); being the newest, it becomes
/// the active one.
pub fn generate(dir: &Path, alg: SigningAlg, rsa_bits: u32) -> Result<KeyFile, KeyError> {
    let gen_err = |e: josekit::JoseError| KeyError::Generate(e.to_string());
    let (pem, jwk) = match alg {
        SigningAlg::RS256 => {
            let pair = RS256.generate_key_pair(rsa_bits).map_err(gen_err)?;
            (pair.to_pem_private_key(), pair.to_jwk_public_key())
        }
        SigningAlg::ES256 => {
            let pair = ES256.generate_key_pair().map_err(gen_err)?;
            (pair.to_pem_private_key(), pair.to_jwk_public_key())
        }
        SigningAlg::EdDSA => {
            let pair = EdDSA.generate_key_pair(EdCurve::Ed25519).map_err(gen_err)?;
            (pair.to_pem_private_key(), pair.to_jwk_public_key())
        }
    };
    let kid = thumbprint(&jwk).map_err(KeyError::Generate)?;
    // Strictly after every existing key of this algorithm, even within one millisecond.
    let newest = list(dir)?
        .into_iter()
        .filter(|f| f.alg == alg)
        .map(|f| f.created_ms)
        .max()
        .unwrap_or(0);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let created_ms = now_ms.max(newest + 1);
    let path = dir.join(format!("{}-{created_ms}-{kid}.pem", alg.as_str()));
    write_private(&path, &pem)?;
    Ok(KeyFile {
        alg,
        created_ms,
        kid,
        path,
        active: true,
    })
}

/// Stops publishing a key and deletes its private part. The active key cannot be retired.
pub fn retire(dir: &Path, kid: &str) -> Result<KeyFile, KeyError> {
    let file = list(dir)?
        .into_iter()
        .find(|f| f.kid == kid)
        .ok_or_else(|| KeyError::UnknownKid(kid.to_string()))?;
    if file.active {
        return Err(KeyError::RetireActive(file.kid, file.alg));
    }
    fs::remove_file(&file.path).map_err(|source| io(&file.path, source))?;
    Ok(file)
}

pub(crate) fn write_private(path: &Path, pem: &[u8]) -> Result<(), KeyError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| io(path, source))?;
    file.write_all(pem).map_err(|source| io(path, source))?;
    file.sync_all().map_err(|source| io(path, source))
}

fn public_jwk(mut jwk: Jwk, alg: SigningAlg, kid: &str) -> Value {
    jwk.set_key_id(kid);
    jwk.set_algorithm(alg.as_str());
    jwk.set_key_use("sig");
    Value::Object(jwk.as_ref().clone())
}

/// RFC 7638: SHA-256 over the required members, in lexicographic order, no white space.
pub fn thumbprint(jwk: &Jwk) -> Result<String, String> {
    let members: &[&str] = match jwk.key_type() {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        other => return Err(format!("unsupported key type {other}")),
    };
    let mut canonical = Map::new();
    for name in members {
        let value = jwk
            .parameter(name)
            .ok_or_else(|| format!("public key has no '{name}'"))?;
        canonical.insert((*name).to_string(), value.clone());
    }
    // serde_json's Map is ordered by key and prints without white space.
    let json = serde_json::to_string(&canonical).map_err(|e| e.to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(json.as_bytes())))
}

pub(crate) fn io(path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A 256-bit secret kept in the key directory (`name`, mode 0600), created on first use.
/// All instances share the directory, hence the secret.
pub fn load_or_create_secret(dir: &Path, name: &str) -> Result<Vec<u8>, KeyError> {
    use rand::RngCore;
    let path = dir.join(name);
    match fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => return Ok(bytes),
        Ok(_) => {
            return Err(KeyError::Invalid {
                path,
                message: "a secret must hold at least 32 bytes".into(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(io(&path, source)),
    }
    fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
    let mut secret = vec![0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    match write_private(&path, &secret) {
        Ok(()) => Ok(secret),
        // Another instance created it first: use theirs.
        Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            fs::read(&path).map_err(|source| io(&path, source))
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // The example key of RFC 7638 §3.1.
        let jwk = Jwk::from_bytes(br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#).unwrap();
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rsa_keys_are_made_at_the_configured_size() {
        let modulus_bytes = |dir: &Path| {
            let keys = SigningKeys::load(dir).unwrap();
            let jwks: serde_json::Value = serde_json::from_slice(keys.jwks()).unwrap();
            let rsa: Vec<usize> = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|k| k["kty"] == "RSA")
                .map(|k| {
                    base64::Engine::decode(
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                        k["n"].as_str().unwrap(),
                    )
                    .unwrap()
                    .len()
                })
                .collect();
            rsa
        };
        let dir = tempfile::tempdir().unwrap();
        SigningKeys::load_or_generate(dir.path(), 2048).unwrap();
        assert_eq!(modulus_bytes(dir.path()), [256]);
        // A larger size applies to the keys made from then on; the first stays published.
        generate(dir.path(), SigningAlg::RS256, 3072).unwrap();
        let mut sizes = modulus_bytes(dir.path());
        sizes.sort();
        assert_eq!(sizes, [256, 384]);
    }

    #[test]
    fn rotation_keeps_old_keys_published_until_retired() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SigningKeys::load_or_generate(dir.path(), 2048).unwrap();
        let first = keys.active_kid(SigningAlg::ES256).unwrap().to_string();
        let rotated = generate(dir.path(), SigningAlg::ES256, 2048).unwrap();
        let keys = SigningKeys::load(dir.path()).unwrap();
        assert_eq!(keys.active_kid(SigningAlg::ES256).unwrap(), rotated.kid);
        let jwks = String::from_utf8(keys.jwks().to_vec()).unwrap();
        assert!(jwks.contains(&first) && jwks.contains(&rotated.kid));
        assert!(
            !jwks.contains("\"d\""),
            "private parts must not be published"
        );
        assert!(matches!(
            retire(dir.path(), &rotated.kid),
            Err(KeyError::RetireActive(..))
        ));
        retire(dir.path(), &first).unwrap();
        let keys = SigningKeys::load(dir.path()).unwrap();
        assert!(!String::from_utf8(keys.jwks().to_vec())
            .unwrap()
            .contains(&first));
    }

    #[cfg(unix)]
    #[test]
    fn private_key_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = generate(dir.path(), SigningAlg::EdDSA, 2048).unwrap();
        let mode = fs::metadata(&file.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

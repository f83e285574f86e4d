//! JWT signing keys in memory: what one instance signs and verifies with, built from the
//! key set in the database ([`super::key_set`]) and rebuilt when that changes.
//!
//! Each algorithm may hold several keys. The one that signs is the newest (highest
//! generation) whose `signs_from` has come, so a key scheduled by a rotation starts
//! signing on time on every instance, without waiting for a reload; every key given is
//! published in the JWKS. The `kid` is the RFC 7638 thumbprint of the public key.

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
use crate::domain::clock::UnixTime;

/// The RSA key sizes Etupass makes (`rsa_key_bits`). 2048 bits, the size the major
/// providers sign with, costs a third of a 3072-bit signature; NIST SP 800-57 gives
/// both past 2030 only at 3072.
pub const RSA_KEY_BITS: [u32; 3] = [2048, 3072, 4096];

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    // `cause` rather than `source`: printed here once, not again as the error's cause.
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("key {kid}: {message}")]
    Unusable { kid: String, message: String },
    #[error("key generation failed: {0}")]
    Generate(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A private key opened from the key set, with its place in the key's life.
#[derive(Clone)]
pub struct KeyMaterial {
    pub kid: String,
    pub alg: SigningAlg,
    /// Orders the keys of one algorithm: the newest that may sign, signs.
    pub generation: i64,
    pub private_pem: Vec<u8>,
    pub signs_from: UnixTime,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("generation", &self.generation)
            .field("signs_from", &self.signs_from)
            .finish()
    }
}

/// A key just made: its private part (PEM), its public JWK and its kid.
pub struct NewKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub private_pem: Vec<u8>,
    pub public_jwk: Value,
}

struct LoadedKey {
    kid: String,
    generation: i64,
    signs_from: UnixTime,
    signer: Box<dyn JwsSigner>,
}

/// The keys one instance holds: signers by algorithm, verifiers by kid, the JWKS bytes.
pub struct SigningKeys {
    /// Per algorithm, newest generation first.
    signers: HashMap<SigningAlg, Vec<LoadedKey>>,
    /// Every published key, by kid: our own tokens come back (`id_token_hint`).
    verifiers: HashMap<String, Box<dyn JwsVerifier>>,
    jwks: Vec<u8>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: BTreeMap<_, Vec<&str>> = self
            .signers
            .iter()
            .map(|(a, keys)| (a, keys.iter().map(|k| k.kid.as_str()).collect()))
            .collect();
        f.debug_struct("SigningKeys").field("kids", &kids).finish()
    }
}

/// A JWT and the kid of the key that signed it.
#[derive(Debug, Clone)]
pub struct Signed {
    pub token: String,
    pub kid: String,
}

impl SigningKeys {
    /// Builds the set from opened keys. A key that cannot be read is left out and named
    /// in the returned errors; the others work.
    pub fn build(keys: Vec<KeyMaterial>) -> (SigningKeys, Vec<KeyError>) {
        let mut signers: HashMap<SigningAlg, Vec<LoadedKey>> = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut published = Vec::new();
        let mut errors = Vec::new();
        for key in keys {
            match load(&key) {
                Ok((signer, verifier, jwk)) => {
                    verifiers.insert(key.kid.clone(), verifier);
                    published.push(public_jwk(jwk, key.alg, &key.kid));
                    signers.entry(key.alg).or_default().push(LoadedKey {
                        kid: key.kid,
                        generation: key.generation,
                        signs_from: key.signs_from,
                        signer,
                    });
                }
                Err(message) => errors.push(KeyError::Unusable {
                    kid: key.kid,
                    message,
                }),
            }
        }
        for keys in signers.values_mut() {
            keys.sort_by_key(|k| std::cmp::Reverse(k.generation));
        }
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": published }))
            .expect("a JWKS always serializes");
        (
            SigningKeys {
                signers,
                verifiers,
                jwks,
            },
            errors,
        )
    }

    /// One new key per algorithm, signing at once, in memory only (benchmarks and unit
    /// tests).
    pub fn generated(rsa_bits: u32) -> Result<SigningKeys, KeyError> {
        let mut keys = Vec::new();
        for alg in SigningAlg::ALL {
            let new = generate(alg, rsa_bits)?;
            keys.push(KeyMaterial {
                kid: new.kid,
                alg,
                generation: 1,
                private_pem: new.private_pem,
                signs_from: 0,
            });
        }
        let (keys, errors) = SigningKeys::build(keys);
        match errors.into_iter().next() {
            Some(error) => Err(error),
            None => Ok(keys),
        }
    }

    /// The JWKS document (public parts only), serialized once.
    pub fn jwks(&self) -> &[u8] {
        &self.jwks
    }

    /// The kid that signs for `alg` at `now`.
    pub fn active_kid(&self, alg: SigningAlg, now: UnixTime) -> Option<&str> {
        self.active(alg, now).map(|k| k.kid.as_str())
    }

    fn active(&self, alg: SigningAlg, now: UnixTime) -> Option<&LoadedKey> {
        self.signers
            .get(&alg)?
            .iter()
            .find(|key| key.signs_from <= now)
    }

    /// Whether the JWKS holds this kid.
    pub fn publishes(&self, kid: &str) -> bool {
        self.verifiers.contains_key(kid)
    }

    pub(crate) fn verifier(&self, kid: &str) -> Option<&dyn JwsVerifier> {
        self.verifiers.get(kid).map(|v| v.as_ref())
    }

    pub(crate) fn signer(
        &self,
        alg: SigningAlg,
        now: UnixTime,
    ) -> Result<(&str, &dyn JwsSigner), KeyError> {
        self.active(alg, now)
            .map(|k| (k.kid.as_str(), k.signer.as_ref()))
            .ok_or_else(|| KeyError::Sign(format!("no {alg} key may sign now")))
    }
}

type Loaded = (Box<dyn JwsSigner>, Box<dyn JwsVerifier>, Jwk);

/// Signer, verifier and public JWK of one key, its kid checked against its thumbprint.
fn load(key: &KeyMaterial) -> Result<Loaded, String> {
    let pem = &key.private_pem;
    let text = |e: josekit::JoseError| e.to_string();
    let (jwk, signer): (Jwk, Box<dyn JwsSigner>) = match key.alg {
        SigningAlg::RS256 => (
            RsaKeyPair::from_pem(pem).map_err(text)?.to_jwk_public_key(),
            Box::new(RS256.signer_from_pem(pem).map_err(text)?),
        ),
        SigningAlg::ES256 => (
            EcKeyPair::from_pem(pem, Some(EcCurve::P256))
                .map_err(text)?
                .to_jwk_public_key(),
            Box::new(ES256.signer_from_pem(pem).map_err(text)?),
        ),
        SigningAlg::EdDSA => (
            EdKeyPair::from_pem(pem).map_err(text)?.to_jwk_public_key(),
            Box::new(EdDSA.signer_from_pem(pem).map_err(text)?),
        ),
    };
    let kid = thumbprint(&jwk)?;
    if kid != key.kid {
        return Err(format!("the key's thumbprint is {kid}, not its kid"));
    }
    let verifier: Box<dyn JwsVerifier> = match key.alg {
        SigningAlg::RS256 => Box::new(RS256.verifier_from_jwk(&jwk).map_err(text)?),
        SigningAlg::ES256 => Box::new(ES256.verifier_from_jwk(&jwk).map_err(text)?),
        SigningAlg::EdDSA => Box::new(EdDSA.verifier_from_jwk(&jwk).map_err(text)?),
    };
    Ok((signer, verifier, jwk))
}

/// A new key for `alg` (RSA keys of `rsa_bits`).
pub fn generate(alg: SigningAlg, rsa_bits: u32) -> Result<NewKey, KeyError> {
    let gen_err = |e: josekit::JoseError| KeyError::Generate(e.to_string());
    let (private_pem, jwk) = match alg {
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
    Ok(NewKey {
        public_jwk: public_jwk(jwk, alg, &kid),
        kid,
        alg,
        private_pem,
    })
}

/// A key file of the layout before the key set moved into the database
/// (`keys/<ALG>-<created_ms>-<kid>.pem`): read once, at the first start after the
/// upgrade, to import it with its kid.
#[derive(Debug, Clone)]
pub struct LegacyKeyFile {
    pub alg: SigningAlg,
    pub created_ms: i64,
    pub kid: String,
    pub path: PathBuf,
}

/// The legacy key files in `dir`, oldest first within each algorithm.
pub fn legacy_key_files(dir: &Path) -> Result<Vec<LegacyKeyFile>, KeyError> {
    let mut files = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(source) => return Err(io(dir, source)),
    };
    for entry in entries {
        let path = entry.map_err(|source| io(dir, source))?.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pem"))
        else {
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
        files.push(LegacyKeyFile {
            alg,
            created_ms,
            kid: kid.to_string(),
            path,
        });
    }
    files.sort_by(|a, b| (a.alg, a.created_ms, &a.kid).cmp(&(b.alg, b.created_ms, &b.kid)));
    Ok(files)
}

/// Writes a private file: mode 0600, never over an existing one, synced.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| io(path, source))?;
    file.write_all(bytes).map_err(|source| io(path, source))?;
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

pub(crate) fn io(path: &Path, cause: std::io::Error) -> KeyError {
    KeyError::Io {
        path: path.to_path_buf(),
        cause,
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

    fn material(new: NewKey, generation: i64, signs_from: UnixTime) -> KeyMaterial {
        KeyMaterial {
            kid: new.kid,
            alg: new.alg,
            generation,
            private_pem: new.private_pem,
            signs_from,
        }
    }

    #[test]
    fn rsa_keys_are_made_at_the_configured_size() {
        for (bits, bytes) in [(2048, 256), (3072, 384)] {
            let new = generate(SigningAlg::RS256, bits).unwrap();
            let n = new.public_jwk["n"].as_str().unwrap();
            assert_eq!(URL_SAFE_NO_PAD.decode(n).unwrap().len(), bytes);
        }
    }

    #[test]
    fn the_newest_key_whose_time_has_come_signs_and_every_key_is_published() {
        let old = generate(SigningAlg::ES256, 2048).unwrap();
        let next = generate(SigningAlg::ES256, 2048).unwrap();
        let (old_kid, next_kid) = (old.kid.clone(), next.kid.clone());
        let (keys, errors) =
            SigningKeys::build(vec![material(old, 1, 100), material(next, 2, 200)]);
        assert!(errors.is_empty());
        assert_eq!(keys.active_kid(SigningAlg::ES256, 150), Some(&*old_kid));
        assert_eq!(keys.active_kid(SigningAlg::ES256, 199), Some(&*old_kid));
        assert_eq!(keys.active_kid(SigningAlg::ES256, 200), Some(&*next_kid));
        assert_eq!(keys.active_kid(SigningAlg::ES256, 50), None);
        assert!(keys.signer(SigningAlg::RS256, 150).is_err());
        let jwks = String::from_utf8(keys.jwks().to_vec()).unwrap();
        assert!(jwks.contains(&old_kid) && jwks.contains(&next_kid));
        assert!(!jwks.contains("\"d\""), "private parts are never published");
        assert!(keys.verifier(&next_kid).is_some());
    }

    #[test]
    fn an_unreadable_key_is_named_and_the_others_work() {
        let good = generate(SigningAlg::EdDSA, 2048).unwrap();
        let good_kid = good.kid.clone();
        let mut broken = material(generate(SigningAlg::EdDSA, 2048).unwrap(), 2, 0);
        // Damaged at run time: its own PEM cut in half no longer parses.
        let half = broken.private_pem.len() / 2;
        broken.private_pem.truncate(half);
        let mut renamed = material(generate(SigningAlg::ES256, 2048).unwrap(), 1, 0);
        renamed.kid = "not-its-thumbprint".into();
        let broken_kid = broken.kid.clone();
        let (keys, errors) = SigningKeys::build(vec![material(good, 1, 0), broken, renamed]);
        let named: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(named.len(), 2, "{named:?}");
        assert!(named[0].starts_with(&format!("key {broken_kid}:")));
        assert!(named[1].contains("not-its-thumbprint") && named[1].contains("thumbprint is"));
        assert_eq!(keys.active_kid(SigningAlg::EdDSA, 10), Some(&*good_kid));
        assert!(!String::from_utf8(keys.jwks().to_vec())
            .unwrap()
            .contains(&broken_kid));
    }
}

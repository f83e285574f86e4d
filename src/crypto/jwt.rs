//! Signing JWTs with the active key of an algorithm, and the OIDC token hashes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jws::JwsHeader;
use josekit::jwt::{self, JwtPayload};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use super::keys::{KeyError, Signed, SigningKeys};
use crate::domain::client::SigningAlg;
use crate::domain::clock::UnixTime;

/// Signs `claims` as a compact JWS with the key that signs for `alg` at `now`, its
/// `kid` in the header.
pub fn sign(
    keys: &SigningKeys,
    alg: SigningAlg,
    typ: &str,
    claims: Map<String, Value>,
    now: UnixTime,
) -> Result<Signed, KeyError> {
    let (kid, signer) = keys.signer(alg, now)?;
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    header.set_key_id(kid);
    let payload = JwtPayload::from_map(claims).map_err(|e| KeyError::Sign(e.to_string()))?;
    let token = jwt::encode_with_signer(&payload, &header, signer)
        .map_err(|e| KeyError::Sign(e.to_string()))?;
    Ok(Signed {
        token,
        kid: kid.to_string(),
    })
}

/// Verifies a JWT this provider signed (any published key, found by `kid`) and returns
/// its claims. Expiry is the caller's business: an expired `id_token_hint` is still valid.
pub fn verify_own(keys: &SigningKeys, token: &str) -> Option<Map<String, Value>> {
    let header = josekit::jwt::decode_header(token).ok()?;
    let kid = header.claim("kid")?.as_str()?.to_string();
    let verifier = keys.verifier(&kid)?;
    let (payload, _) = jwt::decode_with_verifier(token, verifier).ok()?;
    Some(payload.claims_set().clone())
}

/// `at_hash` / `c_hash` (OIDC Core §3.1.3.6): the left half of the hash that goes with
/// the ID token's `alg`, base64url. Ed25519 pairs with SHA-512, as other providers do.
pub fn left_half_hash(alg: SigningAlg, value: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => Sha256::digest(value.as_bytes()).to_vec(),
        SigningAlg::EdDSA => Sha512::digest(value.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_of_the_oidc_example() {
        // OIDC Core A.3: access token and at_hash of the RS256 example.
        assert_eq!(
            left_half_hash(
                SigningAlg::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn signs_with_each_algorithm() {
        let keys = SigningKeys::generated(2048).unwrap();
        for alg in SigningAlg::ALL {
            let mut claims = Map::new();
            claims.insert("sub".into(), "s".into());
            let signed = sign(&keys, alg, "JWT", claims, 0).unwrap();
            assert_eq!(signed.token.split('.').count(), 3);
            assert_eq!(verify_own(&keys, &signed.token).unwrap()["sub"], "s");
        }
    }
}

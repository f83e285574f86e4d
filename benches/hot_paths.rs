//! The functions every request pays for: `cargo bench --bench hot_paths`.
//! A sign-in should cost about one argon2id verification; a token request about one
//! signature; everything else should be noise beside them.

use criterion::{criterion_group, criterion_main, Criterion};
use etupass::crypto::keys::SigningKeys;
use etupass::crypto::password::{Argon2Settings, PasswordHasher};
use etupass::crypto::sealed::Sealer;
use etupass::crypto::{jwt, token};
use etupass::domain::client::SigningAlg;
use etupass::oauth::authorize::RawRequest;
use etupass::oauth::pkce;
use serde_json::{json, Map};

fn secrets(c: &mut Criterion) {
    c.bench_function("token: generate + SHA-256 digest", |b| {
        b.iter(|| token::digest(&token::generate()))
    });
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    c.bench_function("pkce: S256 verify", |b| {
        b.iter(|| pkce::verify(verifier, challenge))
    });
    let query = "response_type=code&client_id=6f1c7f0e-8d7a-4c3b-9a51-1d2b3c4d5e6f&redirect_uri=https%3A%2F%2Fmail.univ.example%2Fcb&scope=openid+profile+email&state=af0ifjsldkj&nonce=n-0S6_WzA2Mj&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256";
    c.bench_function("authorize: parse a request", |b| {
        b.iter(|| RawRequest::from_urlencoded(query).encode())
    });
}

fn id_tokens(c: &mut Criterion) {
    for rsa_bits in [2048, 3072] {
        let keys = SigningKeys::generated(rsa_bits).unwrap();
        sign_each(c, &keys, &format!("RSA {rsa_bits}"));
    }
}

fn sign_each(c: &mut Criterion, keys: &SigningKeys, rsa: &str) {
    for alg in SigningAlg::ALL {
        if rsa != "RSA 2048" && alg != SigningAlg::RS256 {
            continue;
        }
        let name = match alg {
            SigningAlg::RS256 => format!("id token: sign RS256 ({rsa})"),
            _ => format!("id token: sign {alg}"),
        };
        c.bench_function(&name, |b| {
            b.iter(|| {
                let mut claims = Map::new();
                claims.insert("iss".into(), json!("https://login.univ.example"));
                claims.insert("sub".into(), json!("0b6f5c1e-3d2a-4f7e-9c8b-1a2b3c4d5e6f"));
                claims.insert("aud".into(), json!("6f1c7f0e-8d7a-4c3b-9a51-1d2b3c4d5e6f"));
                claims.insert("at_hash".into(), json!(jwt::left_half_hash(alg, "token")));
                jwt::sign(keys, alg, "JWT", claims, 0).unwrap()
            })
        });
    }
}

/// The second step's own cost: open the sealed authenticator key, compute the codes of
/// the three accepted time steps, compare (the database round trips are not here).
fn second_factor(c: &mut Criterion) {
    let sealer = Sealer::new(&[7u8; 32]).unwrap();
    let sealed = sealer.seal(&[42u8; 20], "identity-id").unwrap();
    c.bench_function("second factor: open the key + check a code", |b| {
        b.iter(|| {
            let key = sealer.open(&sealed, "identity-id").unwrap();
            let totp = totp_rs::TOTP::new(
                totp_rs::Algorithm::SHA1,
                6,
                1,
                30,
                key,
                Some("Université".into()),
                "elodie.dupont@univ.example".into(),
            )
            .unwrap();
            (0..3u64)
                .map(|step| totp.generate((56_666_666 + step) * 30))
                .any(|code| token::constant_time_eq(code.as_bytes(), b"123456"))
        })
    });
}

fn passwords(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hasher = PasswordHasher::new(Argon2Settings::default(), 1).unwrap();
    let hash = runtime
        .block_on(hasher.hash("correct horse battery staple"))
        .unwrap();
    let mut group = c.benchmark_group("argon2id (OWASP: 19 MiB, t=2, p=1)");
    group.sample_size(20);
    group.bench_function("verify", |b| {
        b.iter(|| {
            runtime
                .block_on(hasher.verify(Some(&hash), "correct horse battery staple"))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, secrets, id_tokens, second_factor, passwords);
criterion_main!(benches);

//! Full TLS 1.3 handshakes in memory (client and server in one thread, no sockets), with
//! an ECDSA P-256 certificate and X25519, for each rustls provider in turns; prints
//! handshakes per second per provider and the ring / aws-lc-rs ratio (medians of rounds).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection};

fn configs(provider: CryptoProvider, cert: &CertificateDer<'static>, key: &PrivateKeyDer<'static>) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let provider = Arc::new(provider);
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let client = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let server = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.clone_key())
        .unwrap();
    (Arc::new(client), Arc::new(server))
}

fn transfer(from: &mut Connection, to: &mut Connection) {
    let mut buf = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut buf).unwrap();
    }
    let mut slice = &buf[..];
    while !slice.is_empty() {
        to.read_tls(&mut slice).unwrap();
        to.process_new_packets().unwrap();
    }
}

fn handshake(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) {
    let mut c = Connection::Client(
        ClientConnection::new(client.clone(), ServerName::try_from("localhost").unwrap()).unwrap(),
    );
    let mut s = Connection::Server(ServerConnection::new(server.clone()).unwrap());
    while c.is_handshaking() || s.is_handshaking() {
        transfer(&mut c, &mut s);
        transfer(&mut s, &mut c);
    }
}

fn rate(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>, for_: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < for_ {
        handshake(client, server);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let secs: f64 = std::env::var("SECONDS").ok().and_then(|r| r.parse().ok()).unwrap_or(2.0);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap().self_signed(&key).unwrap();
    let cert = cert.der().clone();
    let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let ring = configs(rustls::crypto::ring::default_provider(), &cert, &key);
    let aws = configs(rustls::crypto::aws_lc_rs::default_provider(), &cert, &key);
    let (mut r, mut a, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let x = rate(&ring.0, &ring.1, Duration::from_secs_f64(secs));
        let y = rate(&aws.0, &aws.1, Duration::from_secs_f64(secs));
        r.push(x);
        a.push(y);
        ratios.push(x / y);
    }
    println!("ring {:.0} handshakes/s, aws-lc-rs {:.0} handshakes/s, ring/aws-lc-rs {:.2} ({rounds} rounds of {secs} s, TLS 1.3, X25519, ECDSA P-256, client and server in one thread)", median(r), median(a), median(ratios));
}

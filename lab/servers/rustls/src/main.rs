//! rustls-lab LISTEN_ADDR CERT_PEM KEY_PEM: a TLS 1.2 + 1.3 server on rustls (ring provider)
//! that answers any request with a tiny HTTP/1.0 200. rustls implements no TLS_FALLBACK_SCSV
//! (RFC 7507); Sentinel's lab uses it as the real server that accepts a signalled fallback.
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: rustls-lab LISTEN_ADDR CERT_PEM KEY_PEM");
        std::process::exit(2);
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&args[2])
        .expect("certificate file")
        .map(|c| c.expect("certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(&args[3]).expect("key file");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("certificate and key");
    let config = Arc::new(config);
    let listener = TcpListener::bind(&args[1]).expect("bind");
    println!("rustls-lab listening on {}", listener.local_addr().expect("address"));
    for stream in listener.incoming() {
        let Ok(mut sock) = stream else { continue };
        let config = Arc::clone(&config);
        std::thread::spawn(move || {
            let _ = sock.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = sock.set_write_timeout(Some(Duration::from_secs(10)));
            let Ok(mut conn) = rustls::ServerConnection::new(config) else { return };
            let mut tls = rustls::Stream::new(&mut conn, &mut sock);
            let mut buf = [0u8; 4096];
            if let Ok(n) = tls.read(&mut buf) {
                if n > 0 {
                    let _ = tls.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
                }
            }
            conn.send_close_notify();
            let _ = conn.complete_io(&mut sock);
        });
    }
}

//! Server verification by a pinned CA fingerprint: the site server sends its certificate and the
//! site CA; the client accepts the connection only if that CA has the fingerprint it was given
//! and the server certificate is validly signed by it for [`crate::SITE_SERVER_NAME`].

use std::sync::Arc;

use exam_crypto::Fingerprint;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

#[derive(Debug)]
pub struct PinnedCaVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
    /// The name the certificate must carry whatever address was dialled (None: the name dialled).
    name: Option<ServerName<'static>>,
}

impl PinnedCaVerifier {
    pub fn new(pin: Fingerprint, provider: Arc<CryptoProvider>) -> Self {
        Self {
            pin,
            provider,
            name: None,
        }
    }

    /// A verifier that accepts a certificate for `name` whatever host or address the client
    /// dialled (central's own certificate: its CA is pinned, its address may change), or one for
    /// the name dialled (an operator's certificate under the pinned CA).
    pub fn for_name(pin: Fingerprint, provider: Arc<CryptoProvider>, name: &str) -> Self {
        Self {
            pin,
            provider,
            name: ServerName::try_from(name.to_owned()).ok(),
        }
    }
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates
            .iter()
            .find(|c| Fingerprint::of(c) == self.pin)
        else {
            return Err(rustls::Error::General(format!(
                "this server's certificate authority is not the one pinned ({}): wrong server, or a wrong fingerprint was entered",
                self.pin
            )));
        };
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        // Certificates between the server's and the pinned one (an operator's intermediate CA).
        let between: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .filter(|c| Fingerprint::of(c) != self.pin)
            .cloned()
            .collect();
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        match &self.name {
            // Central's own certificate carries its fixed name; an operator's carries the host
            // name the site dialled. When neither fits, the error about the name dialled says why.
            Some(name) => verifier
                .verify_server_cert(end_entity, &between, name, ocsp_response, now)
                .or_else(|_| {
                    verifier.verify_server_cert(
                        end_entity,
                        &between,
                        server_name,
                        ocsp_response,
                        now,
                    )
                }),
            None => {
                verifier.verify_server_cert(end_entity, &between, server_name, ocsp_response, now)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

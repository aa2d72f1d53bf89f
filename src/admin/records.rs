//! Control-plane records as they are stored: plain data, serialised as JSON documents.

use serde::{Deserialize, Serialize};

/// Where a stored certificate came from.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Uploaded through the admin API (or with a self-serve access request).
    Api,
    /// A file in `certificate_store.dir`.
    Dir,
}

/// A certificate in the control plane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRecord {
    /// Certificate ID (hex).
    pub id: String,
    /// Display name.
    pub name: String,
    /// The certificate and its chain, PEM (no key).
    pub pem: String,
    /// The private key, sealed by the key vault.
    #[serde(default)]
    pub key_sealed: Option<Vec<u8>>,
    /// Where it came from.
    pub source: Source,
    /// File path for `Dir` certificates.
    #[serde(default)]
    pub path: Option<String>,
    /// Hidden: its store file disappeared (its name and organisations are kept).
    #[serde(default)]
    pub deleted: bool,
    /// Organisation IDs.
    #[serde(default)]
    pub organisations: Vec<String>,
    /// Seconds since the epoch.
    pub created_at: i64,
}

/// An organisation (owner of certificates and apps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// ID.
    pub id: String,
    /// Name.
    pub name: String,
}

/// How a product authenticates.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProductAuth {
    /// Auth token + mTLS.
    TokenMtls,
    /// JWT + mTLS.
    JwtMtls,
}

/// Which certificates an approval adds.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CertificateMode {
    /// Every certificate of the app's organisation, including ones added later.
    Managed,
    /// The certificate sent with the access request.
    SelfServe,
}

/// An API product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// API names.
    pub apis: Vec<String>,
    /// Authentication.
    pub auth: ProductAuth,
    /// Certificate mode.
    pub certificate_mode: CertificateMode,
    /// Bind issued tokens to the granted certificates.
    pub bind_certificate_to_token: bool,
}

/// A consumer application.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Organisation ID.
    pub organisation: String,
}

/// Access request status.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    /// Waiting for a decision.
    Pending,
    /// Approved; a grant exists.
    Approved,
    /// Rejected.
    Rejected,
}

/// An app's request for a product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    /// ID.
    pub id: String,
    /// App ID.
    pub app: String,
    /// Product ID.
    pub product: String,
    /// Self-serve: the submitted certificate's ID.
    #[serde(default)]
    pub certificate: Option<String>,
    /// Status.
    pub status: RequestStatus,
    /// The grant, once approved.
    #[serde(default)]
    pub grant: Option<String>,
}

/// Grant status.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// In force.
    Active,
    /// Revoked.
    Revoked,
}

/// What an approval created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// ID.
    pub id: String,
    /// The access request.
    pub request: String,
    /// App ID.
    pub app: String,
    /// Product ID (its APIs, mode and binding are copied below).
    pub product: String,
    /// SHA-256 of the issued token (hex), if one was issued.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// API names.
    pub apis: Vec<String>,
    /// Certificate mode at approval time.
    pub certificate_mode: CertificateMode,
    /// Self-serve: the certificate IDs (managed grants follow the organisation).
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Bind the token to the grant's certificates.
    pub bind: bool,
    /// Status.
    pub status: GrantStatus,
    /// Seconds since the epoch.
    pub created_at: i64,
}

/// A token issued directly (`POST /keys`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    /// ID.
    pub id: String,
    /// SHA-256 of the token (hex).
    pub token_sha256: String,
    /// API names.
    pub apis: Vec<String>,
    /// Certificate-token binding (IDs).
    #[serde(default)]
    pub bound_certificates: Vec<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Seconds since the epoch.
    pub created_at: i64,
}

/// A CRL uploaded through the admin API (`POST /crls`): one per issuing CA, the newest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrlRecord {
    /// SHA-256 of the CRL's DER (hex).
    pub id: String,
    /// The CRL's DER, base64.
    pub der: String,
    /// The issuer's name, readable (for lists; the DER is what counts).
    pub issuer: String,
    /// Seconds since the epoch.
    pub created_at: i64,
}

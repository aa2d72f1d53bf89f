//! A console form as the browser sent it: `application/x-www-form-urlencoded`, or
//! `multipart/form-data` when it carries a file (a PEM certificate, a CRL). Parsing only;
//! the screens decide what the fields mean.
//!
//! Multipart bodies are read with `multer`, the parser axum and rocket use, over the body
//! already in memory (the transport capped it), so the one future completes at once.

use super::super::api::Query;

/// A parsed form: its text fields and its non-empty files.
pub struct Form {
    text: Query,
    files: Vec<(String, Vec<u8>)>,
}

impl Form {
    /// Parses `body` by its `Content-Type` (URL-encoded when absent or anything else, as
    /// HTML forms send). A multipart body that cannot be read, or a text field that is not
    /// UTF-8, is an error that says so.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Form, String> {
        let multipart = content_type.is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("multipart/form-data"))
        });
        if !multipart {
            return Ok(Form {
                text: Query::from_bytes(body),
                files: Vec::new(),
            });
        }
        let boundary = multer::parse_boundary(content_type.unwrap_or(""))
            .map_err(|e| format!("the form's Content-Type has no usable boundary: {e}"))?;
        futures::executor::block_on(read_multipart(body.to_vec(), boundary))
    }

    /// The first non-empty text value of `name`, or `""`.
    pub fn value(&self, name: &str) -> &str {
        self.text.value(name)
    }

    /// The first non-empty file sent as `name`.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.iter().find(|(n, _)| n == name).map(|(_, b)| b.as_slice())
    }
}

async fn read_multipart(body: Vec<u8>, boundary: String) -> Result<Form, String> {
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut text = Vec::new();
    let mut files = Vec::new();
    let unreadable = |e: multer::Error| format!("the form could not be read: {e}");
    while let Some(part) = parts.next_field().await.map_err(unreadable)? {
        let name = part.name().unwrap_or("").to_string();
        let is_file = part.file_name().is_some();
        let bytes = part.bytes().await.map_err(unreadable)?;
        if is_file {
            if !bytes.is_empty() {
                files.push((name, bytes.to_vec()));
            }
        } else {
            let value =
                String::from_utf8(bytes.to_vec()).map_err(|_| format!("the form field `{name}` is not UTF-8 text"))?;
            text.push((name, value));
        }
    }
    Ok(Form {
        text: Query::from_pairs(text),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=XyZ";

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, file, content) in parts {
            b.extend_from_slice(b"--XyZ\r\n");
            match file {
                Some(f) => b.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
                ),
                None => b.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
            }
            b.extend_from_slice(content);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    #[test]
    fn url_encoded_forms_are_read_as_before() {
        let f = Form::parse(Some("application/x-www-form-urlencoded"), b"name=A%20b&csrf=t").unwrap();
        assert_eq!((f.value("name"), f.value("csrf")), ("A b", "t"));
        assert!(f.file("name").is_none());
        assert_eq!(Form::parse(None, b"x=1").unwrap().value("x"), "1");
    }

    #[test]
    fn multipart_text_fields_and_a_binary_file() {
        let der: &[u8] = &[0x30, 0x82, 0xff, 0x00, b'\r', b'\n', 0x01];
        let b = body(&[
            ("csrf", None, b"tok"),
            ("name", None, "Zoë".as_bytes()),
            ("pem_file", Some("c.der"), der),
        ]);
        let f = Form::parse(Some(CT), &b).unwrap();
        assert_eq!((f.value("csrf"), f.value("name")), ("tok", "Zoë"));
        assert_eq!(f.file("pem_file"), Some(der));
    }

    #[test]
    fn a_file_input_left_empty_is_no_file() {
        let b = body(&[("pem_file", Some(""), b""), ("pem", None, b"pasted")]);
        let f = Form::parse(Some(CT), &b).unwrap();
        assert!(f.file("pem_file").is_none());
        assert_eq!(f.value("pem"), "pasted");
    }

    #[test]
    fn broken_multipart_bodies_are_errors_not_panics() {
        assert!(Form::parse(Some("multipart/form-data"), b"x")
            .err()
            .unwrap()
            .contains("boundary"));
        let cut = &body(&[("name", None, b"v")])[..20];
        assert!(Form::parse(Some(CT), cut).is_err());
        let latin1 = body(&[("name", None, &[0xe9])]);
        assert!(Form::parse(Some(CT), &latin1).err().unwrap().contains("`name`"));
        for n in 0..64 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            let _ = Form::parse(Some(CT), &junk);
        }
    }
}

//! A real S3 API server for one test: moto's server mode on a free 127.0.0.1 port, killed when
//! dropped. moto runs from the project's own venv (`scripts/venv tests/requirements.txt`, whose
//! Python `scripts/test` passes as `BOOKPIPE_MOTO_PYTHON`), never from whatever `python3` is on
//! PATH: a fresh machine has no moto there, and a hand-installed one would hide that. A missing or
//! foreign moto fails the test; it never skips.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bookpipe::lake::Lake;
use bookpipe::settings::LakeUrl;
use object_store::aws::AmazonS3Builder;

pub struct Moto {
    child: Child,
    port: u16,
}

/// The fake credentials every test uses; the secrets test searches the logs for them.
pub const ACCESS_KEY: &str = "AKIAFAKEBOOKPIPE0001";
pub const SECRET_KEY: &str = "fakeSecretKeyBookpipe/DoNotLog+0001";

impl Moto {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let python = moto_python();
        let child = Command::new(&python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start moto with {python}: {err}"));
        let moto = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while moto.request("GET", "/").is_err() {
            assert!(Instant::now() < deadline, "moto did not answer on port {port} within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One plain HTTP request to the server (bucket creation, listings), its whole response.
    pub fn request(&self, method: &str, path: &str) -> std::io::Result<String> {
        request(self.port, method, path)
    }

    /// Creates a bucket.
    pub fn bucket(&self, name: &str) {
        let response = self.request("PUT", &format!("/{name}")).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "creating bucket {name}: {response}");
    }

    /// A lake in `bucket` under `prefix`, through object_store's S3 backend.
    pub fn lake(&self, bucket: &str, prefix: &str) -> Lake {
        lake_at(&self.endpoint(), bucket, prefix)
    }
}

/// One plain HTTP request to the S3 API server on `port` (a child process of a test knows the
/// port, not the server), its whole response.
pub fn request(port: u16, method: &str, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// A lake in `bucket` under `prefix` on the S3 API server at `endpoint` (a child process of a test
/// gets the endpoint, not the server).
pub fn lake_at(endpoint: &str, bucket: &str, prefix: &str) -> Lake {
    let builder = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY);
    let url = LakeUrl::S3 { bucket: bucket.into(), prefix: prefix.into() };
    Lake::from_s3(builder, prefix, &url).unwrap()
}

/// The venv Python that runs moto; panics, saying how to get one, when it is not set or not a venv.
fn moto_python() -> String {
    let python = std::env::var("BOOKPIPE_MOTO_PYTHON").unwrap_or_else(|_| {
        panic!(
            "BOOKPIPE_MOTO_PYTHON is not set: run the tests with scripts/test, which creates the venv \
             (scripts/venv tests/requirements.txt) and sets it to that venv's bin/python"
        )
    });
    // The project's venv, and moto imported from it: a system Python with moto installed by hand
    // would pass here and fail on a fresh machine.
    let check = "import sys, moto; assert sys.prefix != sys.base_prefix, 'not a venv'; \
                 assert moto.__file__.startswith(sys.prefix), moto.__file__; print(moto.__version__)";
    let output = Command::new(&python).args(["-c", check]).output();
    match output {
        Ok(output) if output.status.success() => python,
        Ok(output) => panic!(
            "BOOKPIPE_MOTO_PYTHON={python} is not a venv with moto (scripts/venv tests/requirements.txt makes one): {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(err) => panic!("cannot run BOOKPIPE_MOTO_PYTHON={python}: {err}"),
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

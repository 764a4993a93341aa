//! A real PostgreSQL server for one test: `initdb` into a temp dir from the installed server
//! binaries, started on a free 127.0.0.1 port, stopped and removed when dropped. A missing server
//! binary fails the test (it never skips): CI must exercise the PostgreSQL path.
//!
//! `initdb` refuses to run as root, so as root the server runs as the `postgres` user.

use std::path::PathBuf;
use std::process::Command;

pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    user: Option<String>,
    /// The `bookpipe` role's password, when the server authenticates with scram-sha-256.
    password: Option<String>,
    pub port: u16,
}

/// The server binaries: `BOOKPIPE_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`.
fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("BOOKPIPE_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries are needed: install postgresql (or set BOOKPIPE_PG_BIN)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    found.sort();
    found.pop().expect("no /usr/lib/postgresql/*/bin/initdb: install postgresql (or set BOOKPIPE_PG_BIN)")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

impl PgServer {
    /// A server that trusts every local connection.
    pub fn start() -> Self {
        Self::start_with(None, None)
    }

    /// A server that asks the `bookpipe` role for `password` (scram-sha-256), as a managed
    /// PostgreSQL does.
    pub fn with_password(password: &str) -> Self {
        Self::start_with(Some(password.to_string()), None)
    }

    /// A server with `ssl=on` presenting `cert` (PEM, with `key`), asking for `password`: what
    /// Amazon RDS for PostgreSQL is.
    pub fn with_tls(password: &str, cert: &std::path::Path, key: &std::path::Path) -> Self {
        Self::start_with(Some(password.to_string()), Some((cert, key)))
    }

    fn start_with(password: Option<String>, tls: Option<(&std::path::Path, &std::path::Path)>) -> Self {
        let bin = pg_bin();
        let dir = tempfile::Builder::new().prefix("bookpipe-pg-").tempdir().unwrap();
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, password.as_deref().unwrap_or_default()).unwrap();
        let mut ssl = String::new();
        if let Some((cert, key)) = tls {
            // The server refuses a key others can read.
            let (server_cert, server_key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::copy(cert, &server_cert).unwrap();
            std::fs::copy(key, &server_key).unwrap();
            std::fs::set_permissions(&server_key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
            ssl = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                server_cert.display(),
                server_key.display()
            );
        }
        let user = is_root().then(|| "postgres".to_string());
        if let Some(user) = &user {
            let status = Command::new("chown").arg("-R").arg(user).arg(dir.path()).status().unwrap();
            assert!(status.success(), "chown of the PostgreSQL temp dir to {user}");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let auth = if password.is_some() { "scram-sha-256" } else { "trust" };
        let server = Self { dir, bin, user, password, port };
        let data = server.data();
        let pwfile = format!("--pwfile={}", pwfile.display());
        let mut initdb = vec!["-D", &data, "-A", auth, "-U", "bookpipe", "--locale=C", "-E", "UTF8"];
        if server.password.is_some() {
            initdb.push(&pwfile);
        }
        server.run("initdb", &initdb);
        if tls.is_some() {
            // TLS or nothing: every TCP rule of initdb's pg_hba.conf becomes a `hostssl` rule, so a
            // connection that succeeds is encrypted.
            let hba = server.dir.path().join("data/pg_hba.conf");
            let rules = std::fs::read_to_string(&hba).unwrap();
            let rules: Vec<String> = rules
                .lines()
                .map(|l| if l.starts_with("host ") { l.replacen("host ", "hostssl ", 1) } else { l.to_string() })
                .collect();
            std::fs::write(&hba, rules.join("\n") + "\n").unwrap();
        }
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off{ssl}",
            server.dir.path().display()
        );
        let log = server.dir.path().join("server.log").display().to_string();
        server.run("pg_ctl", &["-D", &data, "-o", &options, "-l", &log, "-w", "-t", "60", "start"]);
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// A server program, run as the server's user.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = match &self.user {
            Some(user) => {
                let mut runuser = Command::new("runuser");
                runuser.arg("-u").arg(user).arg("--").arg(&path);
                runuser
            }
            None => Command::new(&path),
        };
        if let Some(password) = &self.password {
            command.env("PGPASSWORD", password);
        }
        command
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).current_dir(self.dir.path()).output().unwrap();
        assert!(
            output.status.success(),
            "{program} failed: {}\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Creates a database and returns its URL.
    pub fn database(&self, name: &str) -> String {
        let port = self.port.to_string();
        self.run("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "bookpipe", name]);
        format!("postgres://bookpipe@127.0.0.1:{}/{name}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.command("pg_ctl").args(["-D", &data, "-m", "immediate", "-w", "stop"]).output();
    }
}

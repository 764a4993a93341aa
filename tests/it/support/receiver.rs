//! An OpenLineage receiver on 127.0.0.1 for tests, answering as a real one may: `201` to every
//! `POST` (Marquez's answer), a `500`, or never (a receiver that hangs: it reads the event and holds
//! the connection open without a word). Every event that arrives is kept, with its path and
//! `Authorization` header.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Created,
    ServerError,
    Never,
}

/// One `POST` as received.
#[derive(Debug, Clone)]
pub struct Posted {
    pub path: String,
    pub authorization: Option<String>,
    pub event: Value,
}

pub struct Receiver {
    port: u16,
    posted: Arc<Mutex<Vec<Posted>>>,
}

impl Receiver {
    pub fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let posted = Arc::new(Mutex::new(vec![]));
        let log = posted.clone();
        std::thread::spawn(move || {
            // Connections of a hanging receiver are held here, open, for the life of the process.
            let mut held = vec![];
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Some(request) = read(&stream) else { continue };
                log.lock().unwrap().push(request);
                match answer {
                    Answer::Created => respond(stream, "201 Created"),
                    Answer::ServerError => respond(stream, "500 Internal Server Error"),
                    Answer::Never => held.push(stream),
                }
            }
        });
        Self { port, posted }
    }

    /// The URL to give `--lineage-url` / `OPENLINEAGE_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn posted(&self) -> Vec<Posted> {
        self.posted.lock().unwrap().clone()
    }

    pub fn events(&self) -> Vec<Value> {
        self.posted().into_iter().map(|p| p.event).collect()
    }
}

fn read(stream: &TcpStream) -> Option<Posted> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let (mut length, mut authorization) = (0, None);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Posted { path, authorization, event: serde_json::from_slice(&body).ok()? })
}

fn respond(mut stream: TcpStream, status: &str) {
    let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

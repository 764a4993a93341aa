//! The fake Open Library's HTTP/1.1 server on 127.0.0.1 (in the tests' process, or in the example
//! binary's): every request goes to a handler, every request is logged. One connection per request (`Connection: close`), which is all the client needs and
//! keeps faults (wrong status, odd headers, bad bodies) easy to script. It also counts the requests
//! in flight (arrived, not yet answered), so a test sees how many a client had under way at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// Path and query as sent, e.g. `/subjects/love.json?limit=1000&offset=0`.
    pub target: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub user_agent: Option<String>,
    /// How many times this exact target has been asked for, this one included.
    pub attempt: u32,
    /// When it arrived.
    pub at: Instant,
}

/// What the handler answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A transport fault instead of (or during) the answer.
    pub fault: Option<Fault>,
}

/// Faults a real network and server produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection is closed without an answer.
    Reset,
    /// The head promises the whole body; half of it comes, then the connection closes.
    Truncate,
    /// The answer comes after this long (past the client's timeout in the tests).
    Delay(std::time::Duration),
}

impl Reply {
    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Self { status: 200, headers: vec![], body: body.into(), fault: None }
    }

    pub fn status(status: u16, body: &str) -> Self {
        Self { status, headers: vec![], body: body.as_bytes().to_vec(), fault: None }
    }

    pub fn fault(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A running server on its own thread and runtime (so sync and async tests can both use it);
/// stops when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<Request>>>,
    in_flight: Arc<InFlight>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Requests that have arrived and are not answered yet (the answer written, or the connection
/// dropped), and the most there ever were at once.
#[derive(Debug, Default)]
struct InFlight {
    now: AtomicUsize,
    most: AtomicUsize,
}

/// One request in flight, from its arrival until it is dropped with its answer.
struct Arrived(Arc<InFlight>);

impl Arrived {
    fn new(in_flight: &Arc<InFlight>) -> Self {
        let now = in_flight.now.fetch_add(1, Ordering::SeqCst) + 1;
        in_flight.most.fetch_max(now, Ordering::SeqCst);
        Self(in_flight.clone())
    }
}

impl Drop for Arrived {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl TestServer {
    pub fn start(handler: Handler) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let in_flight = Arc::new(InFlight::default());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (server_log, server_in_flight) = (log.clone(), in_flight.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                tokio::select! {
                    _ = stopped => {}
                    _ = serve(listener, handler, server_log, server_in_flight) => {}
                }
            });
        });
        let addr = addr_rx.recv().unwrap();
        Self { addr, log, in_flight, _stop: stop }
    }

    /// The most requests that were in flight at once so far: arrived (read whole) and not yet
    /// answered. A client that waits for each answer before it sends the next request never
    /// makes it more than 1 (the server reads a request only after it has written the answer
    /// before it: one thread serves every connection).
    pub fn most_in_flight(&self) -> usize {
        self.in_flight.most.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// The targets (path and query) of every request so far.
    pub fn targets(&self) -> Vec<String> {
        self.requests().into_iter().map(|r| r.target).collect()
    }

    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }
}

async fn serve(listener: TcpListener, handler: Handler, log: Arc<Mutex<Vec<Request>>>, in_flight: Arc<InFlight>) {
    let counts = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    loop {
        let Ok((mut socket, _)) = listener.accept().await else { continue };
        let (handler, log, counts, in_flight) = (handler.clone(), log.clone(), counts.clone(), in_flight.clone());
        tokio::spawn(async move {
            let Some(mut request) = read_request(&mut socket).await else { return };
            let _arrived = Arrived::new(&in_flight);
            request.attempt = {
                let mut counts = counts.lock().unwrap();
                let n = counts.entry(request.target.clone()).or_default();
                *n += 1;
                *n
            };
            log.lock().unwrap().push(request.clone());
            let reply = handler(&request);
            match reply.fault {
                Some(Fault::Reset) => return,
                Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
                _ => {}
            }
            let mut head = format!(
                "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                reply.status,
                reply.body.len()
            );
            for (name, value) in &reply.headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            let _ = socket.write_all(head.as_bytes()).await;
            let body =
                if reply.fault == Some(Fault::Truncate) { &reply.body[..reply.body.len() / 2] } else { &reply.body };
            let _ = socket.write_all(body).await;
            let _ = socket.shutdown().await;
        });
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let target = lines.next()?.split(' ').nth(1)?.to_string();
    let user_agent = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
        .map(|(_, value)| value.trim().to_string());
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query =
        query.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Some(Request { path: path.to_string(), query, user_agent, attempt: 0, at: Instant::now(), target })
}

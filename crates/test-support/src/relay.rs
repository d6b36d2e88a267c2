//! A TCP relay on 127.0.0.1 that a test can cut and restore, or slow down: a peer (a registry)
//! that goes away and comes back on the same address, or answers late, with the real peer
//! behind it.

use parking_lot::Mutex;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Relays connections from its own port to `target` while up.
pub struct Relay {
    port: u16,
    target: String,
    up: Arc<AtomicBool>,
    /// Both ends of every relayed connection, shut down when the relay is cut.
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// Milliseconds each piece of the peer's answer is held before it is passed on.
    delay_ms: Arc<AtomicU64>,
}

impl Relay {
    /// A relay to `target` (`HOST:PORT`) on a free port, up.
    pub fn start(target: &str) -> Relay {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let relay = Relay {
            port,
            target: target.to_string(),
            up: Arc::new(AtomicBool::new(false)),
            open: Arc::default(),
            delay_ms: Arc::default(),
        };
        relay.restore();
        relay
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Cuts every open connection and refuses new ones until [`Relay::restore`].
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        // The accept loop sees the flag within its poll and closes the listener.
        std::thread::sleep(Duration::from_millis(150));
        for s in self.open.lock().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Holds each piece of the peer's answers for `delay` before passing it on (zero: none), on
    /// open connections too: a registry that answers, but later than a deadline.
    pub fn slow(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Listens again on the same port.
    pub fn restore(&self) {
        let listener = (0..50)
            .find_map(|_| {
                TcpListener::bind(("127.0.0.1", self.port))
                    .map_err(|_| std::thread::sleep(Duration::from_millis(100)))
                    .ok()
            })
            .expect("the relay's port again");
        listener.set_nonblocking(true).expect("nonblocking");
        self.up.store(true, Ordering::SeqCst);
        let (up, open, target) = (self.up.clone(), self.open.clone(), self.target.clone());
        let delay_ms = self.delay_ms.clone();
        std::thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let pipe =
                    |mut from: TcpStream, mut to: TcpStream, delay: Option<Arc<AtomicU64>>| {
                        std::thread::spawn(move || {
                            use std::io::{Read, Write};
                            let mut buf = vec![0u8; 64 << 10];
                            while let Ok(n) = from.read(&mut buf) {
                                if n == 0 {
                                    break;
                                }
                                if let Some(ms) = delay.as_ref().map(|d| d.load(Ordering::SeqCst))
                                    && ms > 0
                                {
                                    std::thread::sleep(Duration::from_millis(ms));
                                }
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                            let _ = to.shutdown(Shutdown::Write);
                        });
                    };
                if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                    open.lock().extend([c2, s2]);
                    pipe(
                        client.try_clone().expect("clone"),
                        server.try_clone().expect("clone"),
                        None,
                    );
                    pipe(server, client, Some(delay_ms.clone()));
                }
            }
        });
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

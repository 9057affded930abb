//! Shared helpers for Canopy's integration tests; the scenarios live in `tests/`.
//!
//! [`ImpairedLink`]: this machine's kernel has no `netem` qdisc, so tests put a small
//! UDP proxy between two loopback ports that drops, delays, jitters (and so reorders)
//! datagrams from a seeded generator. Real QUIC traffic passes through it.

use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How the proxy treats each datagram, in each direction.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Mean one-way delay.
    pub delay: Duration,
    /// Uniform jitter added to the delay: ± this much (so datagrams reorder).
    pub jitter: Duration,
    /// Seed of the random generator: the same seed drops the same datagrams.
    pub seed: u64,
}

/// A datagram waiting for its time.
struct Due {
    at: Instant,
    order: u64,
    to_server: bool,
    bytes: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    // Earliest first in a max-heap.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

/// A UDP proxy for one client: the client talks to [`ImpairedLink::address`], the
/// proxy talks to the server from a socket of its own.
pub struct ImpairedLink {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Datagrams dropped so far (both directions).
    pub dropped: Arc<AtomicU64>,
    /// Datagrams passed so far (both directions).
    pub passed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// xorshift64*: small, seeded, good enough to pick which datagrams to drop.
struct Random(u64);

impl Random {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl ImpairedLink {
    /// Starts a proxy on 127.0.0.1 in front of `server`.
    pub fn start(server: SocketAddr, impairment: Impairment) -> std::io::Result<ImpairedLink> {
        let front = UdpSocket::bind("127.0.0.1:0")?;
        let back = UdpSocket::bind("127.0.0.1:0")?;
        back.connect(server)?;
        for socket in [&front, &back] {
            socket.set_read_timeout(Some(Duration::from_millis(50)))?;
        }
        let address = front.local_addr()?;
        let (front, back) = (Arc::new(front), Arc::new(back));
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let passed = Arc::new(AtomicU64::new(0));
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let queue: Arc<(Mutex<BinaryHeap<Due>>, Condvar)> = Arc::default();
        let random = Arc::new(Mutex::new(Random(impairment.seed | 1)));
        let order = Arc::new(AtomicU64::new(0));

        let mut threads = Vec::new();
        for to_server in [true, false] {
            let (source, stop, client, queue, random, order, dropped) = (
                if to_server {
                    Arc::clone(&front)
                } else {
                    Arc::clone(&back)
                },
                Arc::clone(&stop),
                Arc::clone(&client),
                Arc::clone(&queue),
                Arc::clone(&random),
                Arc::clone(&order),
                Arc::clone(&dropped),
            );
            threads.push(std::thread::spawn(move || {
                let mut buffer = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = source.recv_from(&mut buffer) else {
                        continue;
                    };
                    if to_server {
                        *client.lock().unwrap_or_else(|e| e.into_inner()) = Some(from);
                    }
                    let (lose, offset) = {
                        let mut random = random.lock().unwrap_or_else(|e| e.into_inner());
                        (
                            random.next_f64() < impairment.loss,
                            random.next_f64() * 2.0 - 1.0,
                        )
                    };
                    if lose {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let delay =
                        impairment.delay.as_secs_f64() + offset * impairment.jitter.as_secs_f64();
                    let (heap, ready) = &*queue;
                    heap.lock().unwrap_or_else(|e| e.into_inner()).push(Due {
                        at: Instant::now() + Duration::from_secs_f64(delay.max(0.0)),
                        order: order.fetch_add(1, Ordering::Relaxed),
                        to_server,
                        bytes: buffer[..n].to_vec(),
                    });
                    ready.notify_one();
                }
            }));
        }
        {
            let (stop, queue, passed) =
                (Arc::clone(&stop), Arc::clone(&queue), Arc::clone(&passed));
            let (front, back) = (Arc::clone(&front), Arc::clone(&back));
            threads.push(std::thread::spawn(move || {
                let (heap, ready) = &*queue;
                let mut waiting = heap.lock().unwrap_or_else(|e| e.into_inner());
                while !stop.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    match waiting.peek().map(|d| d.at) {
                        Some(at) if at <= now => {
                            if let Some(due) = waiting.pop() {
                                let sent = if due.to_server {
                                    back.send(&due.bytes).is_ok()
                                } else {
                                    match *client.lock().unwrap_or_else(|e| e.into_inner()) {
                                        Some(to) => front.send_to(&due.bytes, to).is_ok(),
                                        None => false,
                                    }
                                };
                                if sent {
                                    passed.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        Some(at) => {
                            waiting = ready
                                .wait_timeout(waiting, at - now)
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                        }
                        None => {
                            waiting = ready
                                .wait_timeout(waiting, Duration::from_millis(50))
                                .unwrap_or_else(|e| e.into_inner())
                                .0;
                        }
                    }
                }
            }));
        }
        Ok(ImpairedLink {
            address,
            stop,
            dropped,
            passed,
            threads,
        })
    }

    /// Where the client should send (instead of the server).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for ImpairedLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_proxy_drops_about_the_asked_share_and_delays() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let server_address = server.local_addr().unwrap();
        let link = ImpairedLink::start(
            server_address,
            Impairment {
                loss: 0.1,
                delay: Duration::from_millis(30),
                jitter: Duration::from_millis(10),
                seed: 7,
            },
        )
        .unwrap();
        // The server reads as datagrams arrive, so its buffer never overflows.
        let reader = std::thread::spawn(move || {
            let mut received = Vec::new();
            let mut buffer = [0u8; 16];
            while let Ok((n, _)) = server.recv_from(&mut buffer) {
                received.push(u32::from_le_bytes(buffer[..n].try_into().unwrap()));
            }
            received
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sent_at = Instant::now();
        for i in 0..1000u32 {
            client.send_to(&i.to_le_bytes(), link.address()).unwrap();
            if i % 20 == 0 {
                // Paced, so socket buffers never overflow: every loss is the proxy's.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let received = reader.join().unwrap();
        assert!(sent_at.elapsed() >= Duration::from_millis(20));
        let lost = 1000 - received.len();
        assert!((60..=140).contains(&lost), "lost {lost} of 1000");
        assert!(
            received.windows(2).any(|w| w[0] > w[1]),
            "jitter should reorder some datagrams"
        );
        assert_eq!(link.dropped.load(Ordering::Relaxed) as usize, lost);
    }
}

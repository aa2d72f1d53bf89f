//! The downstream fixture: the SPEC §3 world ([`crate::support::world`]), a plain HTTP echo
//! upstream, and a gateway running the world's config.

use std::ops::Deref;
use std::sync::OnceLock;

use certgate::echo::{self, EchoHandle};

use crate::support::world::World;
pub use crate::support::world::{now, JWT_SECRET};
use crate::support::{Gateway, Response, TestBed, TlsClient};

pub struct Fixture {
    pub world: World,
    pub gateway: Gateway,
    /// Kept for its lifetime: the upstream stops when dropped.
    pub _upstream: EchoHandle,
}

impl Deref for Fixture {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

impl Fixture {
    /// The fixture every read-only test shares (started once per test process): its
    /// gateway's config never changes and no test asserts on its metrics or log. A thread
    /// that lives as long as the process holds it, so the gateway dies with the process.
    pub fn shared() -> &'static Fixture {
        static SHARED: OnceLock<Fixture> = OnceLock::new();
        SHARED.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                tx.send(Fixture::start_in(TestBed::for_the_process("test server CA")))
                    .unwrap();
                loop {
                    std::thread::park();
                }
            });
            rx.recv().unwrap()
        })
    }

    fn start_in(bed: TestBed) -> Fixture {
        let upstream = echo::start_plain("echo").unwrap();
        let world = World::build_in(bed, &upstream.addr.to_string());
        let gateway = world.bed.start(&world.yaml);
        Fixture {
            world,
            gateway,
            _upstream: upstream,
        }
    }

    /// A client presenting `cert` (by fixture name), or none.
    pub fn client(&self, cert: Option<&str>) -> TlsClient {
        let c = self.bed.client();
        match cert {
            Some(n) => c.with_cert(&self.certs[n]),
            None => c,
        }
    }

    /// GET over TLS with `cert`.
    pub fn get(&self, cert: Option<&str>, path: &str, headers: &[(&str, &str)]) -> Response {
        self.client(cert).get(self.gateway.https, path, headers)
    }
}

//! The downstream fixture: the SPEC §3 world ([`crate::support::world`]), a plain HTTP echo
//! upstream, and a gateway running the world's config.

use std::ops::Deref;

use certgate::echo::{self, EchoHandle};

use crate::support::world::World;
pub use crate::support::world::{now, JWT_SECRET};
use crate::support::{Gateway, Response, TlsClient};

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
    pub fn start() -> Fixture {
        let upstream = echo::start_plain("echo").unwrap();
        let world = World::build(&upstream.addr.to_string());
        let gateway = Gateway::start(world.dir.path(), &world.yaml);
        Fixture {
            world,
            gateway,
            _upstream: upstream,
        }
    }

    /// A client presenting `cert` (by fixture name), or none.
    pub fn client(&self, cert: Option<&str>) -> TlsClient {
        let c = TlsClient::new(&self.server_ca);
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

//! The `certgate` command line (SPEC §7).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::{Parser, Subcommand};

/// certgate: an mTLS edge gateway on Pingora.
#[derive(Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// The YAML configuration file.
    #[arg(short, long, default_value = "conf/certgate.yaml")]
    config: PathBuf,
    /// Take the listening sockets over from a running certgate (graceful upgrade, see README).
    #[arg(short, long)]
    upgrade: bool,
    /// Path of the socket used to hand listeners over during an upgrade.
    #[arg(long)]
    upgrade_sock: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (the default).
    Run(RunArgs),
    /// Validate a configuration and exit non-zero with every error found.
    Check {
        /// The YAML configuration file.
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Certificate tools.
    Cert {
        #[command(subcommand)]
        command: CertCommand,
    },
    /// Why a request would be allowed or refused: the route and every step of the decision.
    Explain {
        /// Configuration file.
        #[arg(short, long)]
        config: PathBuf,
        /// The request's host.
        #[arg(long)]
        host: String,
        /// The request's path (with its query, if any).
        #[arg(long)]
        path: String,
        /// The request's method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// The client's certificate (PEM: the leaf, then the intermediates it sends).
        #[arg(long)]
        cert: Option<PathBuf>,
        /// A request header, `Name: value` (repeatable).
        #[arg(long = "header")]
        headers: Vec<String>,
    },
    /// The fleet's shared control plane on Redis (SPEC §9).
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// Run a self-contained demo: throwaway PKI, an mTLS upstream, the gateway and curl calls.
    #[cfg(feature = "demo")]
    Demo(certgate::demo::DemoArgs),
}

#[derive(Subcommand)]
enum FleetCommand {
    /// Copy the control plane under admin.data_dir into the fleet's empty namespace.
    Seed {
        /// The YAML configuration file (its `admin` and `fleet` sections).
        #[arg(short, long)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum CertCommand {
    /// Print the ID and metadata of a PEM file.
    Id {
        /// PEM file (certificate, chain, certificate + key, or public key).
        file: PathBuf,
    },
    /// Print the decision SPEC §3 step 2 takes for a client chain (exit 0 allowed, 1 refused).
    Verify {
        /// Allow-list entries: CA certificates (and leaves), PEM.
        #[arg(long)]
        ca: PathBuf,
        /// Intermediates the client sends after its leaf, PEM.
        #[arg(long)]
        chain: Option<PathBuf>,
        /// CRLs to check the leaf and its verified path against (PEM or DER; SPEC §10),
        /// each verified against a certificate of `--ca` or `--chain`.
        #[arg(long)]
        crl: Option<PathBuf>,
        /// Decide as of this time (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// The client's leaf certificate (PEM; certificates after it count as its chain).
        leaf: PathBuf,
    },
}

fn main() -> ExitCode {
    // Installed before anything else: from here on a SIGHUP can never kill certgate; it
    // only marks a reload as due.
    let hup = Arc::new(AtomicBool::new(false));
    if let Err(e) = signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone()) {
        eprintln!("certgate: cannot install the SIGHUP handler: {e}");
        return ExitCode::from(1);
    }
    certgate::logging::init();
    let cli = Cli::parse();
    let result = match cli.command {
        None => run(cli.run, hup),
        Some(Command::Run(args)) => run(args, hup),
        Some(Command::Check { config }) => match certgate::server::check(&config, &|name| std::env::var(name).ok()) {
            Ok(snap) => {
                for w in &snap.warnings {
                    eprintln!("warning: {w}");
                }
                println!(
                    "{}: ok ({} APIs, {} tokens)",
                    config.display(),
                    snap.stats.apis,
                    snap.stats.tokens
                );
                return ExitCode::SUCCESS;
            }
            Err(errors) => {
                for e in errors.iter() {
                    eprintln!("error: {e}");
                }
                return ExitCode::from(2);
            }
        },
        Some(Command::Cert {
            command: CertCommand::Id { file },
        }) => certgate::cli::print_cert_id(&file),
        Some(Command::Cert {
            command:
                CertCommand::Verify {
                    ca,
                    chain,
                    crl,
                    at,
                    leaf,
                },
        }) => {
            let at = match at.as_deref().map(certgate::rfc3339::parse) {
                None => certgate::clock::now_unix(),
                Some(Some(t)) => t,
                Some(None) => {
                    eprintln!("certgate: --at: not an RFC 3339 time");
                    return ExitCode::from(2);
                }
            };
            match certgate::cli::verify_cert(&ca, chain.as_deref(), crl.as_deref(), &leaf, at) {
                Ok(certgate::cli::Verdict::Allowed) => return ExitCode::SUCCESS,
                Ok(certgate::cli::Verdict::Refused(_)) => return ExitCode::from(1),
                Err(e) => Err(e),
            }
        }
        Some(Command::Explain {
            config,
            host,
            path,
            method,
            cert,
            headers,
        }) => {
            let q = certgate::explain::Question {
                config: &config,
                host: &host,
                path: &path,
                method: &method,
                cert: cert.as_deref(),
                headers: &headers,
            };
            match certgate::explain::explain(&q, &|name| std::env::var(name).ok()) {
                Ok(true) => return ExitCode::SUCCESS,
                Ok(false) => return ExitCode::from(1),
                Err(e) => Err(e),
            }
        }
        Some(Command::Fleet {
            command: FleetCommand::Seed { config },
        }) => certgate::admin::fleet::seed(&config, &|name| std::env::var(name).ok()).map(|s| {
            println!(
                "seeded fleet namespace `{}` with {} records (revision 1)",
                s.namespace, s.records
            );
        }),
        #[cfg(feature = "demo")]
        Some(Command::Demo(args)) => certgate::demo::run(args, hup),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("certgate: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: RunArgs, hup: Arc<AtomicBool>) -> anyhow::Result<()> {
    certgate::server::run(
        certgate::server::RunOptions {
            config: args.config,
            upgrade: args.upgrade,
            upgrade_sock: args.upgrade_sock,
        },
        hup,
    )
}

/// mimalloc: the request path allocates small, short-lived buffers (headers, TLS records);
/// glibc malloc shows up in profiles, mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

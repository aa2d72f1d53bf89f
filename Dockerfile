# certgate in a container: a multi-stage build, run as a non-root user on Debian slim.
#   docker build -t certgate .
#   docker run --rm -p 8443:8443 -v $PWD/conf:/etc/certgate:ro certgate
# Not run where it was written (no container runtime there); the binary and the paths it
# uses are the ones the .deb installs and the tests exercise.

FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev perl make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The production build: no demo, no echo upstream.
RUN cargo build --release --locked --no-default-features \
    && strip target/release/certgate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 certgate \
    && useradd --system --uid 10001 --gid certgate --home-dir /var/lib/certgate --shell /usr/sbin/nologin certgate \
    && install -d -o certgate -g certgate -m 0700 /var/lib/certgate \
    && install -d -m 0755 /etc/certgate
COPY --from=build /src/target/release/certgate /usr/bin/certgate
COPY conf/minimal.yaml /etc/certgate/certgate.yaml
USER certgate:certgate
WORKDIR /var/lib/certgate
EXPOSE 8443
# SIGHUP reloads (docker kill -s HUP), SIGTERM drains and stops.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/certgate"]
CMD ["run", "-c", "/etc/certgate/certgate.yaml"]

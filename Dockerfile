# Bazaar's image for hosts that can pull base images: a Rust build stage, then a slim
# Debian runtime with raft-node, frontend and bazaar (stripped). The same image, built
# with no registry at all, comes from scripts/build-image.sh (see README, "Containers").
#
#   docker build -t bazaar:local .
#   docker compose up -d
#
# Both images have the same layout: binaries in /usr/local/bin, the default cluster file
# and catalog in /etc/bazaar (docker-compose.yml mounts its own over them), data in
# /data (BAZAAR_DATA_DIR), running as the non-root user bazaar (uid 10001).

FROM rust:1-bookworm AS build
# RocksDB's bindings need libclang at build time; its C++ needs a compiler (in the image).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libclang-dev clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The first build compiles RocksDB's C++: about 10 minutes on 2 cores.
RUN cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && for b in raft-node frontend bazaar; do strip --strip-all -o /out/$b target/release/$b; done

FROM debian:bookworm-slim
# libstdc++6 and libgcc-s1 (RocksDB's C++ runtime) are already in bookworm-slim.
RUN groupadd --gid 10001 bazaar \
 && useradd --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin bazaar \
 && mkdir -p /data /etc/bazaar \
 && chown 10001:10001 /data && chmod 0750 /data
COPY --from=build /out/ /usr/local/bin/
COPY deploy/cluster.docker.toml /etc/bazaar/cluster.toml
COPY catalog.toml /etc/bazaar/catalog.toml
ENV BAZAAR_DATA_DIR=/data \
    RUST_LOG=info,openraft=warn
USER 10001:10001
WORKDIR /data
VOLUME /data
CMD ["raft-node", "--help"]

# syntax=docker/dockerfile:1
#
# The imagevault example server as a small image:
#   docker build -t imagevault .
#   docker run -p 8000:8000 -e IMAGEVAULT_ADMIN_PASSWORD=change-me imagevault
# With no other settings it keeps SQLite and files in the volume /var/lib/imagevault; see
# docker-compose.yml for PostgreSQL, Redis and S3-compatible storage.

FROM rust:1-bookworm AS build
WORKDIR /src
# The cache mounts keep downloaded crates and compiled dependencies between builds.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p imagevault-server \
    && install -D target/release/imagevault-server /out/imagevault-server

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/imagevault --create-home imagevault
COPY --from=build /out/imagevault-server /usr/local/bin/imagevault-server
USER imagevault
WORKDIR /var/lib/imagevault
VOLUME /var/lib/imagevault
# A fixed 1 MiB mmap threshold: upload bodies and decoded images are mapped and unmapped
# whole, so RSS follows live memory instead of keeping every freed 25 MiB body in glibc's
# heap (scripts/stress.sh measures the difference).
ENV IMAGEVAULT_BIND=0.0.0.0:8000 \
    IMAGEVAULT_PUBLIC_URL=http://localhost:8000 \
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1048576
EXPOSE 8000
STOPSIGNAL SIGTERM
# The image has no curl: the server binary asks its own /healthz.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["imagevault-server", "healthcheck", "--timeout-secs", "5"]
ENTRYPOINT ["imagevault-server"]
CMD ["serve"]

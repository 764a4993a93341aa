# syntax=docker/dockerfile:1
# bookpipe: one static binary in an image with nothing else but CA roots, run as a non-root user.
#
#   docker build -t bookpipe .
#   docker run --rm -v "$PWD/data:/data" bookpipe run --subject science_fiction --contact you@example.com
#
# Build time: DuckDB's C++ dominates (about 40 minutes on 2 cores, once; the cache mounts keep it).

# 1. A statically linked release binary (glibc and libstdc++ linked in: no loader, no .so at run time).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
ENV RUSTFLAGS="-C target-feature=+crt-static"
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --target x86_64-unknown-linux-gnu --bin bookpipe \
    && cp target/x86_64-unknown-linux-gnu/release/bookpipe /bookpipe \
    && /bookpipe --version

# 2. What the binary needs from a distribution: CA roots for HTTPS (Open Library, S3), a writable
#    /tmp (transform's spill files) and /data (the default lake and DuckDB file when mounted).
FROM debian:bookworm-slim AS rootfs
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /rootfs/etc/ssl/certs /rootfs/tmp /rootfs/data \
    && cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ \
    && echo 'bookpipe:x:65532:65532:bookpipe:/data:/sbin/nologin' > /rootfs/etc/passwd \
    && echo 'bookpipe:x:65532:' > /rootfs/etc/group \
    && chown 65532:65532 /rootfs/data \
    && chmod 1777 /rootfs/tmp

# 3. The image: the binary and those few files, nothing else.
FROM scratch
COPY --from=rootfs /rootfs/ /
COPY --from=build /bookpipe /usr/local/bin/bookpipe
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    BOOKPIPE_LOG_FORMAT=json
USER 65532:65532
WORKDIR /data
ENTRYPOINT ["/usr/local/bin/bookpipe"]
CMD ["--help"]

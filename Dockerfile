# The mycelium binaries (coordinator + CLI, and the example elves of the
# package mycelium-elves, elves/) in one small image. Built by docker-compose.yml; usable on its own:
#
#   docker build -t mycelium .
#   docker run --rm -e MYCELIUM_URL=arangodb://... mycelium mycelium runs
#
# The builder is rust:1.95 on Debian bookworm, the same Debian as the
# runtime image, so that the binaries find the glibc they were linked
# against (the plain rust:1.95 tag follows Debian's newest release).

FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
 && mkdir -p /out \
 && find target/release -maxdepth 1 -type f -perm -u+x \( -name mycelium -o -name 'elf-*' \) -exec cp {} /out/ \;

FROM debian:bookworm-slim
# CA certificates for https:// store URLs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/mycelium --create-home mycelium
COPY --from=builder /out/ /usr/local/bin/
USER mycelium
WORKDIR /var/lib/mycelium
CMD ["mycelium", "--help"]

# mlsteward in a small runtime image: built in a Rust image, run as a non-root user with the
# store on a volume. Build: docker build -t mlsteward .
# Run:   docker run -p 9717:9717 -v mlsteward-data:/var/lib/mlsteward \
#          -v "$PWD:/repo:ro" mlsteward          (mines the repository mounted at /repo)
#        or mount your own config at /etc/mlsteward/config.yaml.

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
# Served by the daemon (the landing page links them): dashboards, alert rules, the
# documentation.
COPY README.md BENCHMARKS.md ./
COPY docs ./docs
COPY grafana ./grafana
COPY deploy/prometheus ./deploy/prometheus
RUN cargo build --release --locked --bin mlsteward

FROM debian:bookworm-slim
# ca-certificates: HTTPS to forges and registries; git: `file://` mirrors; curl: the health
# check. Versions follow the base image's Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/mlsteward --create-home mlsteward
COPY --from=build /src/target/release/mlsteward /usr/local/bin/mlsteward
# The quickstart's config: mines the repository mounted at /repo. Mount your own over it.
COPY deploy/compose/config.yaml /etc/mlsteward/config.yaml
USER 10001
VOLUME ["/var/lib/mlsteward"]
EXPOSE 9717
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["curl", "-fsS", "http://127.0.0.1:9717/-/healthy"]
ENTRYPOINT ["/usr/local/bin/mlsteward"]
CMD ["run", "--config.file", "/etc/mlsteward/config.yaml", "--storage.path", "/var/lib/mlsteward/db.sqlite"]

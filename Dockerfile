# Signoff's image: Debian's python3 and a venv, no compilers, running as a non-root user.
# Build stage: the venv is made here, so pip and its caches never reach the final image.
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/signoff
COPY . /src
# The postgres extra brings psycopg's binary wheel; every dependency installs from wheels.
RUN /opt/signoff/bin/pip install --no-cache-dir --disable-pip-version-check '/src[postgres]' \
 && /opt/signoff/bin/pip uninstall -y -q pip setuptools

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/signoff --create-home signoff
COPY --from=build /opt/signoff /opt/signoff
ENV PATH=/opt/signoff/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SIGNOFF_DATA_DIR=/var/lib/signoff \
    SIGNOFF_HOST=0.0.0.0 \
    SIGNOFF_PORT=8000
WORKDIR /var/lib/signoff
USER signoff
VOLUME /var/lib/signoff
EXPOSE 8000
# No curl in the image: Python asks /healthz, on PORT when the platform set one.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('PORT') or os.environ.get('SIGNOFF_PORT') or '8000'), timeout=4)"]
ENTRYPOINT ["signoff"]
CMD ["dev"]

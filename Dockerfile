# Convnet Lab: one app server. docker-compose.yml runs several behind haproxy (deploy/haproxy.cfg).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# A school's own certificate authority (a proxy that inspects HTTPS): put its .crt files in
# deploy/ca-certificates/ before building. A school's package mirror: --build-arg PIP_INDEX_URL=...
COPY deploy/ca-certificates/ /usr/local/share/ca-certificates/school/
RUN update-ca-certificates
ARG PIP_INDEX_URL=
COPY requirements.txt .
RUN PIP_INDEX_URL="${PIP_INDEX_URL:-https://pypi.org/simple}" PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    pip install -r requirements.txt

COPY . .

# Models trained or uploaded in the app go to a volume that every replica shares;
# the class store is PostgreSQL when CONVNET_LAB_DB names it, else a SQLite file in /data.
ENV CONVNET_LAB_MODELS=/models CONVNET_LAB_DB=sqlite:////data/classroom.db
RUN mkdir -p /models /data && useradd --create-home --uid 1000 lab && chown lab /models /data
USER lab
VOLUME ["/models", "/data"]

EXPOSE 8501
# /ready answers once the server is warm (TensorFlow and the model loaded), not merely listening
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/ready', timeout=2)"
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501", \
     "--server.headless=true", "--server.fileWatcherType=none", "--browser.gatherUsageStats=false"]

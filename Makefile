# Sentinel: the two commands of the README, and the pieces they stand on.
# Everything installs what it needs itself (Debian packages, Python dependencies, lab servers).
SHELL := /bin/bash
PYTHON ?= python3
OUT ?= out

# Debian packages: the scanner's tools (nmap), the lab's real servers, report fonts,
# nftables (the cloud tenants' security groups in the lab), chromium (the report rendering test).
DEBS := nmap nginx-light openssh-server openssh-client snmpd snmp radvd dnsmasq-base iproute2 \
        fonts-noto-cjk gnutls-bin redis-server rabbitmq-server vsftpd inetutils-telnetd openbsd-inetd dnsutils \
        curl openssl busybox socat poppler-utils libpango-1.0-0 libpangoft2-1.0-0 \
        libharfbuzz-subset0 strace zlib1g-dev testssl.sh nftables chromium

.PHONY: deps install lint test demo lab-servers es es-stop broker broker-stop rules-esql

deps:
	@if ! dpkg -s $(DEBS) >/dev/null 2>&1; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends $(DEBS); fi

install: deps
	$(PYTHON) -m pip install -q -e '.[dev]'

lab-servers:
	bash lab/servers/build.sh

lint: install
	$(PYTHON) -m ruff check sentinel tests bench
	$(PYTHON) -m mypy
	lint-imports

# The Elasticsearch tests need the local node (fetched from Maven Central, cached in ~/.m2);
# it is started before the tests and stopped after them, whatever the outcome.
test: install lab-servers lint
	bash tools/es/start.sh
	status=0; $(PYTHON) -m pytest tests -q || status=$$?; bash tools/es/stop.sh; exit $$status

demo: install lab-servers
	$(PYTHON) -m sentinel.cli.demo --out $(OUT)

es:
	bash tools/es/start.sh

es-stop:
	bash tools/es/stop.sh

# A RabbitMQ node on 127.0.0.1 (Debian's rabbitmq-server, from `deps`); prints SENTINEL_BROKER=amqp://...
broker:
	@bash tools/broker/start.sh

broker-stop:
	@bash tools/broker/stop.sh

# Every Sigma rule of rules/ as ES|QL, correlations included (rules/README.md, "Commands").
rules-esql:
	@$(PYTHON) -m sentinel.detect.esql

# flink-rtcef-py: run-time adaptive Complex Event Forecasting on PyFlink + Kafka.
# `make install && make start && make submit` runs the system on the embedded runtime (no Docker);
# `make start MODE=docker` uses docker-compose.yml instead.

PYTHON_SYS ?= python3.11
VENV       ?= .venv
PY         := $(VENV)/bin/python
MODE       ?= embedded
TASKMANAGERS ?= 1
PYTEST_ARGS ?=
JOBS       := collector_job factory_job controller_job inference_job
DATA_FILES ?= data
SYNTHETIC  := run/data/synthetic.csv
STREAM     ?= $(SYNTHETIC)
REGISTRY   ?= run/data/models/registry.json
# The demo stream and the first model, the same in the embedded and the Docker mode.
SYNTHETIC_ARGS := --weeks 8 --vessels 20 --seed 7 --drift-week 4 --compress 3
BOOTSTRAP_ARGS := --weeks 2 --optimise-steps 15

.PHONY: help prereqs install start stop status logs submit $(addprefix submit-,$(JOBS)) topics test test-pure \
        lint train demo watch eval eval-real feed instruct bench-wayeb bench-learning bench-runtime \
        bench-inference bench-scale clean

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

prereqs: ## check Python 3.11, Java 17+ and Maven; one line per missing piece, saying how to get it
	@bash runtime/check-prereqs.sh $(PYTHON_SYS)

$(VENV)/.installed: pyproject.toml | prereqs
	test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' --config-settings editable_mode=compat
	$(PY) -m pip check
	touch $@

runtime/lib/.fetched: runtime/pom.xml | prereqs
	mvn -q -B -f runtime/pom.xml dependency:copy-dependencies -Pconnector -DoutputDirectory=lib/connector
	mvn -q -B -f runtime/pom.xml dependency:copy-dependencies -Pkafka -DincludeScope=runtime -DoutputDirectory=lib/kafka
	touch $@

# The loopback fix of the Python runner's gRPC servers (runtime/loopback/ServerFactory.java), compiled against
# the flink-python jar of the installed apache-flink wheel.
LOOPBACK_JAR := runtime/lib/loopback/beam-fn-loopback-server.jar
$(LOOPBACK_JAR): runtime/loopback/ServerFactory.java runtime/loopback/build.sh $(VENV)/.installed
	bash runtime/loopback/build.sh "$$($(PY) -c 'import pathlib, pyflink; print(next((pathlib.Path(pyflink.__file__).parent / "opt").glob("flink-python-*.jar")))')" $@

# The Kafka deserializer that tags each record with its partition and the split of batched forecast lines into
# records (runtime/kafka-records), compiled against the fetched connector and the wheel's Flink; the jar sits
# beside the connector, so every job's classpath has it.
KAFKA_RECORDS_JAR := runtime/lib/connector/rtcef-kafka-records.jar
$(KAFKA_RECORDS_JAR): $(wildcard runtime/kafka-records/*.java) runtime/kafka-records/build.sh \
		runtime/lib/.fetched $(VENV)/.installed
	bash runtime/kafka-records/build.sh "$$(ls runtime/lib/connector/flink-sql-connector-kafka-*.jar)" \
	  "$$($(PY) -c 'import pathlib, pyflink; print(next((pathlib.Path(pyflink.__file__).parent / "lib").glob("flink-dist-*.jar")))')" $@

install: $(VENV)/.installed runtime/lib/.fetched $(LOOPBACK_JAR) $(KAFKA_RECORDS_JAR) ## install Python packages and the JVM pieces (idempotent)

$(SYNTHETIC): | $(VENV)/.installed
	mkdir -p $(dir $@)
	$(PY) -m mocks.synthetic --out $@ $(SYNTHETIC_ARGS)

# The card-transaction stream of the finance domain (DOMAIN=finance): 16 weeks of 300 cards whose fraud runs'
# amount_diff range moves on at weeks 5 and 10 (docs/mocks.md).
CARDS      := run/data/synthetic_cards.csv
CARDS_ARGS := --weeks 16 --cards 300 --seed 7 --drift-weeks 5,10

$(CARDS): | $(VENV)/.installed
	mkdir -p $(dir $@)
	$(PY) -m mocks.synthetic_cards --out $@ $(CARDS_ARGS)

$(REGISTRY): | $(VENV)/.installed $(STREAM)
	$(PY) -m inference_job.bootstrap --stream $(STREAM) $(BOOTSTRAP_ARGS)

ifeq ($(MODE),docker)
# Paths inside the containers (docker/Dockerfile, docker-compose.yml): the image's venv and project, and the
# shared volume. The bootstrap runs in the JobManager container, so the model lands on the shared volume.
COMPOSE         ?= docker compose
DOCKER_EXEC     := $(COMPOSE) exec -T jobmanager
DOCKER_PY       := /opt/venv/bin/python
DOCKER_PROJECT  := /opt/rtcef
DOCKER_DATA     := /opt/flink/data
DOCKER_STREAM   := $(DOCKER_DATA)/synthetic.csv
DOCKER_REGISTRY := $(DOCKER_DATA)/models/registry.json
start: ## start Kafka + Flink (MODE=docker uses docker compose)
	$(COMPOSE) up -d --build
stop: ## stop what `make start` started
	$(COMPOSE) down
submit: ## submit all four jobs to the running cluster
	$(DOCKER_EXEC) test -f $(DOCKER_REGISTRY) || { \
	  $(DOCKER_EXEC) $(DOCKER_PY) -m mocks.synthetic --out $(DOCKER_STREAM) $(SYNTHETIC_ARGS) && \
	  $(DOCKER_EXEC) $(DOCKER_PY) -m inference_job.bootstrap --stream $(DOCKER_STREAM) $(BOOTSTRAP_ARGS); }
	for job in $(JOBS); do \
	  $(DOCKER_EXEC) flink run -d -pyexec $(DOCKER_PY) -pyclientexec $(DOCKER_PY) -py $(DOCKER_PROJECT)/$$job/main.py \
	  || exit 1; done
else
start: install
	$(PY) -m rtcef_ops start --taskmanagers $(TASKMANAGERS)
stop:
	$(PY) -m rtcef_ops stop
submit: $(REGISTRY)
	$(PY) -m rtcef_ops submit $(JOBS)
endif

status: ## Flink jobs and topic sizes
	$(PY) -m rtcef_ops status

logs: ## tail broker and Flink logs
	$(PY) -m rtcef_ops logs

topics: ## create missing topics
	$(PY) -m rtcef_ops topics

$(addprefix submit-,$(JOBS)): submit-%:
	$(PY) -m rtcef_ops submit $*

test: install ## the full test suite: pure, MiniCluster, real Kafka and Flink (starts the runtime)
	$(PY) -m rtcef_ops start
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-pure: install ## only the fast tests that need no JVM or broker
	$(PY) -m pytest -q -m "not minicluster and not kafka and not e2e" $(PYTEST_ARGS)

bench-wayeb: install ## wayeb_py benchmark: figures vs targets on the real vessel stream
	$(PY) benchmarks/bench_wayeb.py

bench-learning: install ## factory step throughput and instruction -> command latency (uses the running cluster)
	$(PY) benchmarks/bench_learning.py --kafka

bench-runtime: install ## install/start-up times, Kafka->Flink->Kafka round trip and throughput (takes the cluster lock)
	$(PY) benchmarks/bench_runtime.py

bench-inference: install ## inference_job throughput, latency, state size, PyFlink variants (takes the cluster lock)
	$(PY) benchmarks/bench_inference.py

bench-scale: install ## 5.7 M events through all four jobs: counts, rate, RSS, state, disk (SCALE_ARGS="--vessels N ...")
	$(PY) benchmarks/bench_scale.py $(SCALE_ARGS)

lint: install ## ruff + mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy protocol wayeb_py flink_common rtcef_ops collector_job factory_job controller_job \
		inference_job mocks rtcef_eval shared_volume

DEMO_ARGS ?=
EVAL_ARGS ?=

SPEEDUP ?= 15000

feed: install $(STREAM) ## replay STREAM into the input topic in event-time order (SPEEDUP=x, default 15000)
	$(PY) -m mocks.data_feeder --stream $(STREAM) --speedup $(SPEEDUP)

instruct: install ## send an instruction to the controller: make instruct TYPE=optimize|retrain
	$(PY) -m mocks.mock_instruction_producer --type $(or $(TYPE),retrain)

WATCH_ARGS ?=
watch: install ## live page of the running loop in run/watch/index.html: weekly MCC, instructions, models live
	$(PY) -m rtcef_ops.watch $(WATCH_ARGS)

demo: start ## closed loop on a drifting synthetic stream, weekly table + plot (DOMAIN=maritime|finance, DEMO_ARGS="--stop")
	$(PY) -m rtcef_ops.demo --domain $(DOMAIN) $(DEMO_ARGS)

# `make eval DOMAIN=finance` evaluates on the card stream (CARDS_STREAM=... for another card file).
DOMAIN       ?= maritime
CARDS_STREAM ?= $(CARDS)
EVAL_STREAM   = $(if $(filter finance,$(DOMAIN)),$(CARDS_STREAM),$(STREAM))
EVAL_OUT      = out/eval$(if $(filter finance,$(DOMAIN)),-finance)

eval: install $(EVAL_STREAM) ## offline evaluation: static vs retrain-only vs full RTCEF (DOMAIN=, STREAM=, EVAL_ARGS=)
	$(PY) -m rtcef_eval --stream $(EVAL_STREAM) --domain $(DOMAIN) --out $(EVAL_OUT) $(EVAL_ARGS)

eval-real: install ## the same on the real vessel stream with the original RTCEF port pattern
	$(PY) -m rtcef_eval --stream $(DATA_FILES)/maritime/227592820.csv \
		--pattern $(DATA_FILES)/patterns/port-original/pattern.sre \
		--declarations $(DATA_FILES)/patterns/port-original/declarations.sre --out out/eval-real $(EVAL_ARGS)

train: install $(STREAM) ## bootstrap model (offline-optimised) on the first 2 weeks of STREAM, registered as current
	$(PY) -m inference_job.bootstrap --stream $(STREAM) $(BOOTSTRAP_ARGS)

clean: stop
	rm -rf run

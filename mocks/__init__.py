"""Stand-ins for the world around the four jobs: a stream replayer, a synthetic AIS generator and a
hand-driven instruction producer (see docs/mocks.md)."""

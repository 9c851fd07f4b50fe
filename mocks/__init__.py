"""Stand-ins for the world around the four jobs: a stream replayer, synthetic AIS and card-transaction
generators and a hand-driven instruction producer (see docs/mocks.md)."""

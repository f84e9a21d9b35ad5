"""Agreement between the instances of a cluster (SPEC SF-5).

`consensus` holds the pure rules, `auth` signs and checks messages, `exchange` moves
views between instances over UDP, `service` wires them to the engine.
"""

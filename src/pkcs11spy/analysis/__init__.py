"""From trace to cause: return-code tables (`pkcs11spy rv`), a streaming trace reader,
the per-trace summary (`pkcs11spy summary`) and the mistake finder (`pkcs11spy analyze`).

The readers parse files other programs wrote (our text and JSON traces, OpenSC's
pkcs11-spy logs); they never import the renderer, so a change there cannot hide a
reader bug."""

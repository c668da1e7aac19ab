"""What a QSA circuit is: a small frozen IR, pure builders and exporters (imported as ``qsa.circuits``)."""

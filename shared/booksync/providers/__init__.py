"""Provider clients: the wire protocol of QBO, QBT and Xero, and nothing else."""

"""The SQL backends' shared half: schema-independent query building and the RecordStore logic.

`query` turns `core.query` filters and sorts into SQL per dialect; `store` implements the
RecordStore protocol once over a four-method executor. `homeport.store.sqlite` and
`homeport.store.postgres` only add connections and transactions.
"""

"""The persistence seam: record and blob stores behind small protocols."""

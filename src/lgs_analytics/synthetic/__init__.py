"""The synthetic data generator (`lgs generate`): Online Retail II files of any size with an
exact ground truth. `generator` drives it; the shop it simulates is built from a trading
calendar, a product catalogue and a customer population, simulated invoice batch by batch
(`shop_simulation`, `invoice_batch`, `sampling`), rendered as raw CSV or parquet lines
(`raw_text`) with deliberately broken lines mixed in (`malformed`), and counted exactly as
written (`ground_truth`).
"""

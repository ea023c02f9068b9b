"""The landing zone: the raw Online Retail II layout every landed file follows (`raw_layout`),
the part files it is written in (`part_writer`), what a landing folder holds and whether a
path has held landed data (`folders`), and the import of the real UCI files into it
(`importer`, `lgs import`).
"""

"""What a French SME's bank statement and books say: suppliers, direct-debit creditors,
card merchants, payout and refund sources, tax creditors, label prefixes, free-text
references and notes.

The order of every tuple matters: generators draw from them with a seeded
``random.Random``, so reordering one changes every world built from it.
"""

from __future__ import annotations

# how a bank labels an incoming transfer, before the payer's name
TRANSFER_LABEL_PREFIXES = ("VIR SEPA", "VIR INST", "VIREMENT DE", "VIR")
DIRECT_DEBIT_LABEL_PREFIX = "PRLV SEPA"

MONTHS_FR = (
    "janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
    "octobre", "novembre", "decembre",
)  # fmt: skip

# suppliers paid by direct debit: (name as on the invoice, creditor name in the label)
DIRECT_DEBIT_SUPPLIERS = (
    ("EDF Entreprises", "EDF"),
    ("ENGIE", "ENGIE"),
    ("Orange Business", "ORANGE"),
    ("SFR Business", "SFR"),
    ("Bouygues Telecom Entreprises", "BOUYGUES TELECOM"),
    ("Free Pro", "FREE PRO"),
    ("AXA France IARD", "AXA FRANCE IARD"),
    ("MAAF Assurances", "MAAF ASSURANCES"),
    ("Allianz IARD", "ALLIANZ IARD"),
    ("Leasecom", "LEASECOM"),
    ("DIAC Location", "DIAC LOCATION"),
    ("Veolia Eau", "VEOLIA EAU"),
    ("Total Energies Marketing France", "TOTALENERGIES"),
    ("Swiss Life Prévoyance", "SWISSLIFE PREVOYANCE"),
    ("Malakoff Humanis", "MALAKOFF HUMANIS"),
)

# what suppliers paid by transfer do (half of their names start with it)
SUPPLIER_ACTIVITIES = (
    "Fournitures", "Matériaux", "Imprimerie", "Location", "Maintenance", "Intérim", "Conseil",
    "Transports", "Emballages", "Informatique", "Expertise Comptable", "Avocats", "Traduction",
)  # fmt: skip

CARD_MERCHANTS = (
    "CARREFOUR", "CARREFOUR CITY", "MONOPRIX", "FRANPRIX", "LECLERC", "AUCHAN", "LIDL",
    "TOTAL ACCESS", "SHELL", "ESSO", "SNCF", "SNCF CONNECT", "AIR FRANCE", "UBER", "UBER EATS",
    "AMAZON PAYMENTS", "AMAZON MKTPLACE", "APPLE.COM/BILL", "GOOGLE *GSUITE", "MICROSOFT*365",
    "AWS EMEA", "OVH", "ADOBE", "SLACK", "NOTION", "ZOOM.US", "LINKEDIN", "FNAC", "DARTY",
    "LEROY MERLIN", "CASTORAMA", "BRICO DEPOT", "IKEA", "BUREAU VALLEE", "LA POSTE", "IBIS",
    "NOVOTEL", "BOOKING.COM", "AIRBNB", "RESTAURANT LE ZINC", "BRASSERIE DU PORT", "PAUL",
    "STARBUCKS", "PRET A MANGER", "G7 TAXI", "INDIGO PARKING", "SAEMES", "APRR", "VINCI AUTOROUTES",
)  # fmt: skip

PAYOUT_SOURCES = (
    ("STRIPE PAYMENTS EUROPE", "STRIPE PAYOUT"),
    ("PAYPAL EUROPE", "PAYPAL"),
    ("SUMUP", "SUMUP PAYOUT"),
    ("ADYEN NV", "ADYEN PAYOUT"),
)

REFUND_SOURCES = (
    "AMAZON EU SARL", "SNCF VOYAGEURS", "AIR FRANCE", "AXA FRANCE", "ORANGE", "OVH SAS",
    "URSSAF", "DGFIP", "CPAM", "BOOKING.COM",
)  # fmt: skip

TAX_CREDITORS = (
    ("DGFIP", "TVA"), ("DGFIP", "CFE"), ("URSSAF ILE DE FRANCE", "COTISATIONS"),
    ("URSSAF RHONE ALPES", "COTISATIONS"), ("AG2R LA MONDIALE", "RETRAITE"), ("DGFIP", "IS"),
)  # fmt: skip

GENERIC_REFERENCES = (
    "VIREMENT", "PAIEMENT", "REGLEMENT", "MERCI", "PAIEMENT PRESTATION", "REGLEMENT FACTURE",
    "SOLDE", "VIREMENT CLIENT", "HONORAIRES", "ACOMPTE", "PRESTATIONS", "",
)  # fmt: skip

# named suppliers paid by transfer and their invoice numbering (``numbering.format_number``)
NAMED_SUPPLIERS = (
    ("Bureau Vallée", "F{year}-{seq:05d}"),
    ("Imprimerie Lenoir SAS", "INV-{seq:05d}"),
    ("Cabinet Comptable Aubert", "{year}/{month:02d}/{seq:03d}"),
    ("Locaux Pro Gestion", "FA{seq:06d}"),
    ("Transports Rapides du Sud", "TRS-{year}-{seq:04d}"),
    ("Nettoyage Éclat SARL", "NE{year}{seq:04d}"),
    ("Conseil Digital SAS", "CD-{seq:04d}"),
    ("Fournitures Durand", "FD{yy:02d}-{seq:04d}"),
)
# direct-debit creditors: (creditor, bank label, SEPA creditor identifier, invoice number
# format or None: no invoice)
DIRECT_DEBIT_CREDITORS = (
    ("EDF", "PRLV SEPA EDF", "FR09ZZZ390998", "EDF-{seq:08d}"),
    ("Orange Business", "PRLV SEPA ORANGE SA", "FR82ZZZ001187", "OB{seq:09d}"),
    ("OVHcloud", "PRLV SEPA OVH SAS", "FR36ZZZ534117", "FR{seq:08d}"),
    ("URSSAF Île-de-France", "PRLV SEPA URSSAF ILE DE FRANCE", "FR25ZZZ005702", None),
    ("AXA France", "PRLV SEPA AXA FRANCE IARD", "FR72ZZZ103592", "AXA{year}{seq:05d}"),
)
# card merchants with Qonto's clean name, category and a price range in cents
PRICED_CARD_MERCHANTS = (
    ("AMAZON MKTPLACE", "Amazon", "online_service", 1500, 25000),
    ("SNCF INTERNET", "SNCF", "transport", 2500, 18000),
    ("UBER *TRIP", "Uber", "transport", 900, 4500),
    ("RESTAURANT LE ZINC", "Le Zinc", "restaurant_and_bar", 1800, 12000),
    ("TOTALENERGIES ST 4432", "TotalEnergies", "gas_station", 4000, 9000),
    ("GOOGLE *ADS1234", "Google Ads", "marketing", 5000, 60000),
    ("NOTION LABS", "Notion", "online_service", 800, 9600),
    ("LINKEDIN PRE 4412", "LinkedIn", "marketing", 2999, 7999),
    ("APPLE.COM/BILL", "Apple", "online_service", 299, 2999),
    ("MONOPRIX PARIS 11", "Monoprix", "food_and_grocery", 500, 6000),
)
# card merchants billing in another currency: (label, clean name, currency)
FOREIGN_CARD_MERCHANTS = (
    ("GITHUB, INC.", "GitHub", "USD"),
    ("SLACK T0123ABC", "Slack", "USD"),
    ("FIGMA", "Figma", "USD"),
)
# what a bookkeeper writes in a transaction's note
NOTES = (
    "Payé, merci",
    "Relancé par mail",
    "À rapprocher",
    "Voir avec la compta",
    "Justificatif envoyé",
)
# Qonto categories of outgoing supplier payments
SUPPLIER_PAYMENT_CATEGORIES = ("office_supply", "online_service", "legal_and_accounting", "utility")

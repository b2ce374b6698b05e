"""Word lists for realistic French SME bank activity (names, merchants, suppliers)."""

from __future__ import annotations

SURNAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Lefèvre", "Mercier", "Dupont",
    "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau",
    "Blanc", "Guérin", "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu",
    "Clément", "Gauthier", "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson",
    "Sanchez", "Gérard", "Nguyen", "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Gautier",
    "Roger", "Roche", "Roy", "Noël", "Meyer", "Lucas", "Meunier", "Perez", "Marchand",
    "Dufour", "Blanchard", "Barbier", "Brun", "Dumas", "Brunet", "Schmitt", "Leroux", "Colin",
    "Fernandez", "Renard", "Arnaud", "Rolland", "Caron", "Aubert", "Giraud", "Leclerc",
    "Vidal", "Bourgeois", "Renaud", "Lemoine", "Picard", "Gaillard", "Lacroix", "Fabre",
    "Dupuis", "Olivier", "Rodriguez", "Da Silva", "Hubert", "Guillot", "Rivière", "Le Gall",
    "Guillaume", "Adam", "Rey", "Moulin", "Gonzalez", "Berger", "Lecomte", "Ménard", "Fleury",
    "Deschamps", "Carpentier", "Julien", "Benoît", "Maillard", "Marchal", "Aubry", "Vasseur",
    "Le Roux", "Renault", "Jacquet", "Collet", "Prévost", "Poirier", "Charpentier", "Royer",
    "Huet", "Baron", "Dupuy", "Pons", "Lainé", "Carré", "Breton", "Rémy", "Schneider",
    "Perrot", "Guyot", "Barré", "Marty", "Cousin", "Dupond", "Martineau", "Bernardin",
)  # fmt: skip

FIRST_NAMES = (
    "Jean", "Marie", "Pierre", "Sophie", "Luc", "Claire", "Nicolas", "Julie", "Thomas",
    "Camille", "Antoine", "Léa", "Julien", "Emma", "Hugo", "Chloé", "Louis", "Inès", "Paul",
    "Sarah", "Mathieu", "Laura", "Olivier", "Anne", "Éric", "Isabelle", "Franck", "Nathalie",
)  # fmt: skip

ACTIVITIES = (
    "Bâtiment", "Électricité", "Plomberie", "Menuiserie", "Transports", "Logistique",
    "Conseil", "Informatique", "Immobilier", "Peinture", "Couverture", "Paysages",
    "Boulangerie", "Traiteur", "Imprimerie", "Architecture", "Ingénierie", "Distribution",
    "Services", "Nettoyage", "Sécurité", "Automobiles", "Textile", "Optique", "Communication",
    "Événements", "Formation", "Rénovation", "Charpente", "Maçonnerie", "Carrelage",
    "Chauffage", "Climatisation", "Expertise", "Audit", "Études", "Développement", "Digital",
    "Médical", "Restauration", "Hôtellerie", "Agencement", "Métallerie", "Isolation",
)  # fmt: skip

CITIES = (
    "Paris", "Lyon", "Marseille", "Toulouse", "Nantes", "Bordeaux", "Lille", "Rennes",
    "Strasbourg", "Nice", "Grenoble", "Dijon", "Angers", "Reims", "Tours", "Limoges",
    "Annecy", "Brest", "Caen", "Rouen", "Metz", "Nancy", "Pau", "Valence", "Avignon",
)  # fmt: skip

# (legal form, weight); "" = none written
FR_LEGAL_FORMS = (
    ("SARL", 30), ("SAS", 33), ("SASU", 10), ("EURL", 8), ("SA", 5), ("SCI", 3), ("SNC", 2),
    ("SELARL", 2), ("", 7),
)  # fmt: skip
# how a legal form is written in a bank label
LEGAL_FORM_SPELLINGS = {
    "SARL": ("SARL", "S.A.R.L.", "S.A.R.L", "Sarl"),
    "SAS": ("SAS", "S.A.S.", "S.A.S", "Sas"),
    "SASU": ("SASU", "S.A.S.U.", "Sasu"),
    "EURL": ("EURL", "E.U.R.L.", "Eurl"),
    "SA": ("SA", "S.A."),
    "SCI": ("SCI", "S.C.I."),
    "SNC": ("SNC", "S.N.C."),
    "SELARL": ("SELARL",),
    "": ("",),
}

FOREIGN = (
    # (country, legal form, name pattern words)
    ("DE", "GmbH", ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Wagner", "Becker")),
    ("GB", "Ltd", ("Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Walker")),
    ("BE", "SRL", ("Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems")),
    ("NL", "BV", ("De Jong", "Jansen", "De Vries", "Van Dijk", "Bakker", "Visser")),
    ("ES", "SL", ("García", "Fernández", "González", "Rodríguez", "López", "Martínez")),
)
FOREIGN_ACTIVITIES = ("Trading", "Consulting", "Solutions", "Technologies", "Logistics", "Design")

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

# suppliers paid by transfer (name root, supplier numbering scheme id)
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

"""Names in a French SME's world: people, company activities, cities, legal forms.

The order of every tuple matters: generators draw from them with a seeded
``random.Random``, so reordering one changes every world built from it.
"""

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

# the most common ones, for small worlds (the emulator's companies and employees)
COMMON_SURNAMES = (
    "Dupont", "Martin", "Bernard", "Durand", "Lefèvre", "Moreau", "Laurent", "Simon", "Michel",
    "Garcia", "Roux", "Fournier", "Girard", "Bonnet", "Mercier", "Blanc", "Guérin", "Faure",
    "André", "Chevalier", "Lemaire", "Perrin", "Morel", "Gauthier",
)  # fmt: skip

FIRST_NAMES = (
    "Jean", "Marie", "Pierre", "Sophie", "Luc", "Claire", "Nicolas", "Julie", "Thomas",
    "Camille", "Antoine", "Léa", "Julien", "Emma", "Hugo", "Chloé", "Louis", "Inès", "Paul",
    "Sarah", "Mathieu", "Laura", "Olivier", "Anne", "Éric", "Isabelle", "Franck", "Nathalie",
)  # fmt: skip
COMMON_FIRST_NAMES = ("Camille", "Julien", "Sophie", "Thomas", "Léa", "Nicolas", "Chloé", "Hugo")

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

# shop-style company names: "<prefix> <surname> <form>" (the emulator's customers)
SHOP_PREFIXES = (
    "Maison", "Boulangerie", "Atelier", "Cabinet", "Garage", "Studio", "Transports", "Société",
    "Pharmacie", "Hôtel", "Restaurant", "Librairie", "Menuiserie", "Agence", "Fromagerie",
    "Imprimerie", "Domaine", "Clinique",
)  # fmt: skip
SHOP_LEGAL_FORMS = ("S.A.R.L.", "SAS", "SARL", "SA", "EURL", "SASU", "")

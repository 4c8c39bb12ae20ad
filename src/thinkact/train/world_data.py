"""The bundled world's contents: a facts database (countries, cities) and field-station notes.

Country and city figures are rounded approximations (populations about 2023, in people;
areas in km²; the year each country joined the United Nations). The field stations are
invented, so their notes can be searched without any claim about the real world.
``thinkact.train.world`` turns these tables into the shipped files.
"""

from __future__ import annotations

from typing import NamedTuple


class Country(NamedTuple):
    name: str
    capital: str
    continent: str
    population: int
    area_km2: int
    un_joined: int


class City(NamedTuple):
    name: str
    country: str
    population: int


class Station(NamedTuple):
    name: str
    founded: int
    staff: int
    lead: str
    elevation_m: int
    studies: str


COUNTRIES = (
    Country("France", "Paris", "Europe", 68_000_000, 551_695, 1945),
    Country("Germany", "Berlin", "Europe", 84_000_000, 357_592, 1973),
    Country("Italy", "Rome", "Europe", 59_000_000, 301_340, 1955),
    Country("Spain", "Madrid", "Europe", 48_000_000, 505_990, 1955),
    Country("Portugal", "Lisbon", "Europe", 10_400_000, 92_212, 1955),
    Country("Austria", "Vienna", "Europe", 9_100_000, 83_879, 1955),
    Country("Finland", "Helsinki", "Europe", 5_600_000, 338_455, 1955),
    Country("Sweden", "Stockholm", "Europe", 10_500_000, 450_295, 1946),
    Country("Norway", "Oslo", "Europe", 5_500_000, 385_207, 1945),
    Country("Poland", "Warsaw", "Europe", 36_700_000, 312_696, 1945),
    Country("Greece", "Athens", "Europe", 10_400_000, 131_957, 1945),
    Country("Switzerland", "Bern", "Europe", 8_800_000, 41_285, 2002),
    Country("Japan", "Tokyo", "Asia", 124_000_000, 377_975, 1956),
    Country("India", "New Delhi", "Asia", 1_430_000_000, 3_287_263, 1945),
    Country("China", "Beijing", "Asia", 1_410_000_000, 9_596_961, 1945),
    Country("Indonesia", "Jakarta", "Asia", 278_000_000, 1_904_569, 1950),
    Country("Pakistan", "Islamabad", "Asia", 240_000_000, 881_913, 1947),
    Country("Vietnam", "Hanoi", "Asia", 99_000_000, 331_212, 1977),
    Country("Thailand", "Bangkok", "Asia", 71_800_000, 513_120, 1946),
    Country("South Korea", "Seoul", "Asia", 51_700_000, 100_210, 1991),
    Country("Brazil", "Brasilia", "South America", 216_000_000, 8_515_767, 1945),
    Country("Argentina", "Buenos Aires", "South America", 46_000_000, 2_780_400, 1945),
    Country("Chile", "Santiago", "South America", 19_600_000, 756_102, 1945),
    Country("Peru", "Lima", "South America", 34_300_000, 1_285_216, 1945),
    Country("Colombia", "Bogota", "South America", 52_100_000, 1_141_748, 1945),
    Country("Canada", "Ottawa", "North America", 40_100_000, 9_984_670, 1945),
    Country("Mexico", "Mexico City", "North America", 128_000_000, 1_964_375, 1945),
    Country("Egypt", "Cairo", "Africa", 112_000_000, 1_002_450, 1945),
    Country("Nigeria", "Abuja", "Africa", 223_000_000, 923_768, 1960),
    Country("Kenya", "Nairobi", "Africa", 55_100_000, 580_367, 1963),
    Country("Ghana", "Accra", "Africa", 34_100_000, 238_533, 1957),
    Country("Morocco", "Rabat", "Africa", 37_800_000, 446_550, 1956),
    Country("Australia", "Canberra", "Oceania", 26_600_000, 7_692_024, 1945),
    Country("New Zealand", "Wellington", "Oceania", 5_200_000, 268_021, 1945),
)

CITIES = (
    City("Paris", "France", 2_100_000), City("Marseille", "France", 870_000),
    City("Lyon", "France", 520_000), City("Toulouse", "France", 500_000),
    City("Berlin", "Germany", 3_700_000), City("Hamburg", "Germany", 1_900_000),
    City("Munich", "Germany", 1_500_000), City("Cologne", "Germany", 1_080_000),
    City("Rome", "Italy", 2_750_000), City("Milan", "Italy", 1_370_000),
    City("Naples", "Italy", 910_000), City("Madrid", "Spain", 3_300_000),
    City("Barcelona", "Spain", 1_640_000), City("Valencia", "Spain", 800_000),
    City("Lisbon", "Portugal", 550_000), City("Porto", "Portugal", 230_000),
    City("Vienna", "Austria", 2_000_000), City("Helsinki", "Finland", 670_000),
    City("Stockholm", "Sweden", 980_000), City("Oslo", "Norway", 710_000),
    City("Warsaw", "Poland", 1_860_000), City("Krakow", "Poland", 800_000),
    City("Athens", "Greece", 640_000), City("Zurich", "Switzerland", 420_000),
    City("Bern", "Switzerland", 134_000), City("Tokyo", "Japan", 14_000_000),
    City("Osaka", "Japan", 2_750_000), City("Nagoya", "Japan", 2_330_000),
    City("Mumbai", "India", 12_500_000), City("New Delhi", "India", 250_000),
    City("Bangalore", "India", 8_400_000), City("Shanghai", "China", 24_900_000),
    City("Beijing", "China", 21_900_000), City("Jakarta", "Indonesia", 10_600_000),
    City("Karachi", "Pakistan", 14_900_000), City("Islamabad", "Pakistan", 1_200_000),
    City("Hanoi", "Vietnam", 8_400_000), City("Bangkok", "Thailand", 10_500_000),
    City("Seoul", "South Korea", 9_400_000), City("Busan", "South Korea", 3_300_000),
    City("Sao Paulo", "Brazil", 11_400_000), City("Brasilia", "Brazil", 2_800_000),
    City("Buenos Aires", "Argentina", 3_100_000), City("Santiago", "Chile", 6_200_000),
    City("Lima", "Peru", 9_700_000), City("Bogota", "Colombia", 7_900_000),
    City("Toronto", "Canada", 2_790_000), City("Montreal", "Canada", 1_760_000),
    City("Ottawa", "Canada", 1_020_000), City("Mexico City", "Mexico", 9_200_000),
    City("Cairo", "Egypt", 10_000_000), City("Lagos", "Nigeria", 15_400_000),
    City("Abuja", "Nigeria", 1_200_000), City("Nairobi", "Kenya", 4_400_000),
    City("Accra", "Ghana", 2_500_000), City("Casablanca", "Morocco", 3_400_000),
    City("Rabat", "Morocco", 580_000), City("Sydney", "Australia", 5_300_000),
    City("Melbourne", "Australia", 5_100_000), City("Canberra", "Australia", 460_000),
    City("Auckland", "New Zealand", 1_700_000), City("Wellington", "New Zealand", 215_000),
)

STATIONS = (
    Station("Alder Creek", 1987, 14, "Mara Voss", 420, "river otters"),
    Station("Birch Hollow", 1962, 9, "Tomas Reyes", 1310, "lichens"),
    Station("Cedar Point", 2004, 22, "Ines Okafor", 15, "tides"),
    Station("Dunmore Ridge", 1978, 6, "Pavel Lind", 2240, "snowpack"),
    Station("Elm Marsh", 1995, 17, "Ada Kwan", 3, "wading birds"),
    Station("Fern Gully", 2011, 11, "Noor Hassan", 680, "tree frogs"),
    Station("Granite Pass", 1954, 5, "Erik Sol", 2890, "glaciers"),
    Station("Heron Lake", 1983, 19, "Lucia Brandt", 250, "algae blooms"),
    Station("Iris Bay", 2016, 8, "Sam Tanaka", 2, "sea grass"),
    Station("Juniper Flats", 1971, 12, "Rosa Mendez", 940, "desert bees"),
    Station("Kestrel Hill", 1999, 7, "Omar Diallo", 1120, "raptors"),
    Station("Larch Valley", 1966, 15, "Hana Novak", 1580, "larch forests"),
    Station("Moss Harbor", 2008, 24, "Jonas Berg", 6, "kelp"),
    Station("Nettle Downs", 1990, 10, "Priya Rao", 310, "wildflowers"),
    Station("Oak Shoals", 1975, 13, "Leo Marchetti", 1, "reef fish"),
    Station("Pine Summit", 2001, 4, "Yara Costa", 3050, "high winds"),
)


def station_note(s: Station) -> str:
    """The markdown note of one field station (one heading, so one passage per fact group)."""
    return (
        f"# {s.name} station\n\n"
        f"{s.name} station was founded in {s.founded} by {s.lead}. "
        f"It has {s.staff} staff and lies at {s.elevation_m} metres above sea level.\n\n"
        f"## Research at {s.name}\n\n"
        f"The team at {s.name} studies {s.studies}.\n"
    )


def note_filename(s: Station) -> str:
    return s.name.lower().replace(" ", "-") + ".md"

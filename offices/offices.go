// Package offices answers "where is your office, what is the phone, where can
// I pay": the provider's cities with their hotlines, the offices, partner
// shops, terminals and ATMs of each city with their opening hours, the points
// nearest to where a subscriber stands, and whether a point is open now in its
// city's own time zone.
//
// The data lives in PostgreSQL (migration 003_offices.sql); Import loads it
// from the provider's CSV (see CSV.md) and LoadDemo fills a development
// database. Texts a subscriber reads are not here: the dialogs turn the kinds,
// services and hours of this package into words from the locales.
package offices

import (
	"time"

	// The zone database is compiled in because a container image without
	// /usr/share/zoneinfo would otherwise make every city fail to load, and
	// "open now" in Vladivostok must never silently fall back to Moscow time.
	_ "time/tzdata"
)

// Kind says what sort of place a point is; the dialogs show offices apart from
// the places where one only pays. The values are stored in the database and
// written in CSV files.
type Kind string

// The kinds of points.
const (
	KindOffice   Kind = "office"   // the provider's own office: contracts, copies, equipment
	KindPartner  Kind = "partner"  // a partner shop that takes cash payments («Связной»)
	KindTerminal Kind = "terminal" // a payment terminal (QIWI, ComePay)
	KindATM      Kind = "atm"      // a bank's ATM that pays the provider by card or cash
)

// Kinds lists every kind in the order the dialogs list them: offices first.
var Kinds = []Kind{KindOffice, KindPartner, KindTerminal, KindATM}

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	for _, known := range Kinds {
		if k == known {
			return true
		}
	}
	return false
}

// Service is something a subscriber can do at a point; the dialogs show one
// line per service from the locales, so the set is fixed here and an import
// rejects anything else.
type Service string

// The services a point may offer.
const (
	ServiceContracts  Service = "contracts"  // sign a contract, get a copy of it (and so the account number)
	ServicePayments   Service = "payments"   // pay in cash
	ServiceEquipment  Service = "equipment"  // buy, collect or return a router or a TV box
	ServiceConnection Service = "connection" // apply for a new connection
)

// Services lists every known service in display order.
var Services = []Service{ServiceContracts, ServicePayments, ServiceEquipment, ServiceConnection}

// Valid reports whether s is one of the known services.
func (s Service) Valid() bool {
	for _, known := range Services {
		if s == known {
			return true
		}
	}
	return false
}

// City is one of the provider's cities as a subscriber picks it: its hotlines,
// when the contact centre answers, and the time zone in which every opening
// hour of the city is meant.
type City struct {
	ID       int64
	Name     string   // Russian, as subscribers write it and as billing.Account.City holds it
	NameEN   string   // English, for the English interface
	Hotlines []string // display strings exactly as the provider prints them
	// ContactHours is when the hotline answers, in the city's local time.
	// Empty when the provider has published none for the city.
	ContactHours Hours
	Location     *time.Location // the city's time zone (cities.time_zone)
}

// Point is one office, partner shop, terminal or ATM.
type Point struct {
	ID        int64
	Key       string // the provider's stable key, as in the CSV file
	CityID    int64
	City      string // Russian city name
	Kind      Kind
	Name      string // «Связной», "Офис на Ленина"
	Address   string
	Latitude  float64
	Longitude float64
	Services  []Service
	Hours     Hours
	Location  *time.Location // the city's time zone: Hours are meant in it
}

// OpenNow tells whether the point is open at now in its city's time zone, and
// when that changes; see the package function OpenNow.
func (p Point) OpenNow(now time.Time) (open bool, next time.Time) {
	return OpenNow(p.Hours, now, p.Location)
}

// PointDistance is a point found by Nearest with its distance from where the
// subscriber stands.
type PointDistance struct {
	Point
	Meters float64 // great-circle distance
}

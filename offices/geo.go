package offices

import "math"

// earthRadius is the mean radius of the Earth in metres (IUGG). The sphere is
// off by at most about 0.5% from the ellipsoid, which nobody walking to a
// terminal notices.
const earthRadius = 6371008.8

// box is a rectangle of longitudes and latitudes in degrees.
type box struct{ minLon, minLat, maxLon, maxLat float64 }

// searchBoxes returns two boxes that together hold every point within radius
// metres of (lat, lon). Two, because a circle crossing the 180th meridian
// needs a box on each side of it; otherwise both are the same box. The bounds
// are exact on the sphere (J. P. Matuschek, "Finding Points Within a Distance
// of a Latitude/Longitude Using Bounding Coordinates").
func searchBoxes(lat, lon, radius float64) [2]box {
	whole := box{-180, -90, 180, 90}
	angle := radius / earthRadius // the radius as an angle at the Earth's centre
	minLat := lat - degrees(angle)
	maxLat := lat + degrees(angle)
	if minLat <= -90 || maxLat >= 90 || angle >= math.Pi/2 {
		// The circle covers a pole: every longitude is in it.
		return [2]box{
			{-180, math.Max(minLat, -90), 180, math.Min(maxLat, 90)},
			{-180, math.Max(minLat, -90), 180, math.Min(maxLat, 90)},
		}
	}
	ratio := math.Sin(angle) / math.Cos(radians(lat))
	if ratio >= 1 {
		return [2]box{whole, whole}
	}
	dLon := degrees(math.Asin(ratio))
	minLon, maxLon := lon-dLon, lon+dLon
	switch {
	case minLon < -180:
		return [2]box{{minLon + 360, minLat, 180, maxLat}, {-180, minLat, maxLon, maxLat}}
	case maxLon > 180:
		return [2]box{{minLon, minLat, 180, maxLat}, {-180, minLat, maxLon - 360, maxLat}}
	}
	b := box{minLon, minLat, maxLon, maxLat}
	return [2]box{b, b}
}

func radians(deg float64) float64 { return deg * math.Pi / 180 }
func degrees(rad float64) float64 { return rad * 180 / math.Pi }

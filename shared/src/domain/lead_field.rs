//! The lead's fields as inputs and files name them: one table (`FIELDS`) from which form and
//! platform capture, import headers, the import template and the export's columns are all
//! derived. A new field is one row here (and its place on `Lead`/`LeadInput`).
//!
//! Each row says where the field may come from (`Reach`), the names that map to it (compared
//! after `normalize_name`: lower case, letters and digits only), its column in the template
//! and the export, how a submitted or imported value is written into a `LeadInput`, and how
//! an export writes it (the way the import reads it back: E.164 phones, source names, status
//! names, rep ids, tags joined by `; `).

use crate::domain::lead::{Lead, LeadContext, LeadInput};
use crate::domain::rep::rep_name;
use crate::domain::source::source_name;

/// Where a field's value may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Any input: a form post, an ad platform's lead, a file.
    Any,
    /// Files only: a form's visitor does not choose a lead's status or owner.
    File,
    /// Nowhere: a column an export adds for a report (the lead's id, its owner's name).
    Export,
}

/// One lead field.
pub struct LeadField {
    /// The name a form mapping or an import's explicit mapping targets (`email`).
    pub key: &'static str,
    pub reach: Reach,
    /// Normalized names that map to it, the column's own included.
    pub names: &'static [&'static str],
    /// Its column in the export, and in the import template when `in_template`.
    pub column: Option<&'static str>,
    pub in_template: bool,
    /// The template's example row cell.
    pub example: &'static str,
    /// Writes a trimmed, non-empty value into the input; `None` for a field read elsewhere
    /// (an import's dates, which take the file's date format) or never read.
    pub read: Option<fn(&mut LeadInput, &str)>,
    /// The export's cell.
    pub cell: fn(&Lead, &LeadContext) -> String,
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn none(_: &Lead, _: &LeadContext) -> String {
    String::new()
}

/// Every field, in the order the template and the export show their columns.
pub const FIELDS: &[LeadField] = &[
    LeadField {
        key: "name",
        reach: Reach::Any,
        names: &["name", "fullname", "yourname", "contactname", "leadname"],
        column: Some("Name"),
        in_template: true,
        example: "Jane Example",
        read: Some(|i, v| i.name = Some(v.to_owned())),
        cell: |l, _| l.name.clone(),
    },
    LeadField {
        key: "first_name",
        reach: Reach::Any,
        // The last four: German, French, Spanish spreadsheets.
        names: &[
            "firstname",
            "fname",
            "givenname",
            "first",
            "forename",
            "vorname",
            "prénom",
            "prenom",
            "nombre",
        ],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.first_name = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "last_name",
        reach: Reach::Any,
        names: &[
            "lastname",
            "lname",
            "surname",
            "familyname",
            "last",
            "nachname",
            "nom",
            "apellido",
            "apellidos",
        ],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.last_name = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "email",
        reach: Reach::Any,
        names: &[
            "email",
            "emailaddress",
            "mail",
            "youremail",
            "workemail",
            "businessemail",
            "useremail",
        ],
        column: Some("Email"),
        in_template: true,
        example: "jane@example.com",
        read: Some(|i, v| i.email = Some(v.to_owned())),
        cell: |l, _| l.email.as_ref().map(|e| e.to_string()).unwrap_or_default(),
    },
    LeadField {
        key: "phone",
        reach: Reach::Any,
        names: &[
            "phone",
            "phonenumber",
            "telephone",
            "tel",
            "phoneno",
            "workphone",
            "businessphone",
            "userphone",
            "telefon",
            "telefonnummer",
            "téléphone",
            "telephone2",
            "teléfono",
            "telefono",
        ],
        column: Some("Phone"),
        in_template: true,
        example: "+1 415 555 0100",
        read: Some(|i, v| i.phone = Some(v.to_owned())),
        cell: |l, _| l.phone.as_ref().map(|p| p.to_string()).unwrap_or_default(),
    },
    LeadField {
        key: "mobile",
        reach: Reach::Any,
        names: &[
            "mobile",
            "mobilephone",
            "cell",
            "cellphone",
            "mobilenumber",
            "cellular",
            "handy",
            "mobil",
            "portable",
            "móvil",
            "movil",
        ],
        column: Some("Mobile"),
        in_template: true,
        example: "",
        read: Some(|i, v| i.mobile = Some(v.to_owned())),
        cell: |l, _| l.mobile.as_ref().map(|p| p.to_string()).unwrap_or_default(),
    },
    LeadField {
        key: "company",
        reach: Reach::Any,
        names: &[
            "company",
            "companyname",
            "organization",
            "organisation",
            "business",
            "employer",
            "account",
            "accountname",
            "companyaccount",
            "firma",
            "unternehmen",
            "société",
            "societe",
            "entreprise",
            "empresa",
        ],
        column: Some("Company"),
        in_template: true,
        example: "Example Inc",
        read: Some(|i, v| i.company = Some(v.to_owned())),
        cell: |l, _| text(&l.company),
    },
    LeadField {
        key: "position",
        reach: Reach::Any,
        names: &["position", "jobtitle", "title", "designation", "role", "job"],
        column: Some("Position"),
        in_template: true,
        example: "Head of Sales",
        read: Some(|i, v| i.position = Some(v.to_owned())),
        cell: |l, _| text(&l.position),
    },
    LeadField {
        key: "website",
        reach: Reach::Any,
        names: &["website", "url", "companywebsite", "web", "homepage"],
        column: Some("Website"),
        in_template: true,
        example: "https://example.com",
        read: Some(|i, v| i.website = Some(v.to_owned())),
        cell: |l, _| text(&l.website),
    },
    LeadField {
        key: "company_number",
        reach: Reach::Any,
        names: &["companynumber", "registrationnumber", "companyregistration"],
        column: Some("Company Number"),
        in_template: true,
        example: "",
        read: Some(|i, v| i.company_number = Some(v.to_owned())),
        cell: |l, _| text(&l.company_number),
    },
    LeadField {
        key: "tax_id",
        reach: Reach::Any,
        names: &["taxid", "vat", "vatnumber", "vatid", "taxnumber"],
        column: Some("Tax ID"),
        in_template: true,
        example: "",
        read: Some(|i, v| i.tax_id = Some(v.to_owned())),
        cell: |l, _| text(&l.tax_id),
    },
    LeadField {
        key: "street",
        reach: Reach::Any,
        names: &[
            "street",
            "address",
            "streetaddress",
            "address1",
            "addressline1",
            "strasse",
            "straße",
            "adresse",
            "dirección",
            "direccion",
        ],
        column: Some("Street"),
        in_template: true,
        example: "",
        read: Some(|i, v| i.address.street = Some(v.to_owned())),
        cell: |l, _| text(&l.address.street),
    },
    LeadField {
        key: "city",
        reach: Reach::Any,
        names: &["city", "town", "ort", "stadt", "ville", "ciudad"],
        column: Some("City"),
        in_template: true,
        example: "San Francisco",
        read: Some(|i, v| i.address.city = Some(v.to_owned())),
        cell: |l, _| text(&l.address.city),
    },
    LeadField {
        key: "state",
        reach: Reach::Any,
        names: &[
            "state",
            "region",
            "province",
            "county",
            "stateprovince",
            "stateregion",
        ],
        column: Some("State"),
        in_template: true,
        example: "",
        read: Some(|i, v| i.address.state = Some(v.to_owned())),
        cell: |l, _| text(&l.address.state),
    },
    LeadField {
        key: "country",
        reach: Reach::Any,
        names: &[
            "country",
            "countryname",
            "countrycode",
            "land",
            "pays",
            "país",
            "pais",
        ],
        column: Some("Country"),
        in_template: true,
        example: "US",
        read: Some(|i, v| i.address.country = Some(v.to_owned())),
        cell: |l, _| text(&l.address.country),
    },
    LeadField {
        key: "postal_code",
        reach: Reach::Any,
        // seed 004's `pin_code` (an Indian PIN code is the postal code).
        names: &[
            "postalcode",
            "zip",
            "zipcode",
            "postcode",
            "zippostalcode",
            "postalzipcode",
            "pincode",
            "pin",
            "plz",
            "postleitzahl",
            "codepostal",
            "códigopostal",
            "codigopostal",
        ],
        column: Some("Postal Code"),
        in_template: true,
        example: "",
        read: Some(|i, v| i.address.postal_code = Some(v.to_owned())),
        cell: |l, _| text(&l.address.postal_code),
    },
    LeadField {
        key: "utm_source",
        reach: Reach::Any,
        names: &["utmsource"],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.provenance.utm.source = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "utm_medium",
        reach: Reach::Any,
        names: &["utmmedium"],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.provenance.utm.medium = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "utm_campaign",
        reach: Reach::Any,
        names: &["utmcampaign"],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.provenance.utm.campaign = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "utm_term",
        reach: Reach::Any,
        names: &["utmterm"],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.provenance.utm.term = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "utm_content",
        reach: Reach::Any,
        names: &["utmcontent"],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.provenance.utm.content = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "gclid",
        reach: Reach::Any,
        names: &["gclid", "gclickid"],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.provenance.gclid = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "fbclid",
        reach: Reach::Any,
        names: &["fbclid"],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.provenance.fbclid = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "page_url",
        reach: Reach::Any,
        names: &["pageurl", "page", "landingpage", "sourceurl"],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.provenance.page_url = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "referrer",
        reach: Reach::Any,
        names: &["referrer", "referer"],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.provenance.referrer = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "consent",
        reach: Reach::Any,
        names: &[
            "consent",
            "consenttext",
            "gdprconsent",
            "privacyconsent",
            "marketingconsent",
        ],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.provenance.consent_text = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "source",
        reach: Reach::File,
        names: &["source", "leadsource", "origin", "channel"],
        column: Some("Lead Source"),
        in_template: true,
        example: "",
        read: Some(|i, v| i.source = Some(v.to_owned())),
        cell: |l, ctx| source_name(&ctx.sources, &l.source),
    },
    LeadField {
        key: "status",
        reach: Reach::File,
        names: &["status", "leadstatus", "stage"],
        column: Some("Lead Status"),
        in_template: true,
        example: "",
        read: Some(|i, v| i.status = Some(v.to_owned())),
        cell: |l, _| l.status.as_str().to_owned(),
    },
    LeadField {
        key: "unqualified_reason",
        reach: Reach::File,
        // HubSpot's "Lead Status Reason"/Salesforce's "Unqualified Reason"-style columns.
        names: &[
            "unqualifiedreason",
            "disqualificationreason",
            "disqualifiedreason",
            "leadstatusreason",
            "reasonunqualified",
            "lostreason",
        ],
        column: None,
        in_template: false,
        example: "",
        read: Some(|i, v| i.unqualified_reason = Some(v.to_owned())),
        cell: none,
    },
    LeadField {
        key: "owner",
        reach: Reach::File,
        names: &[
            "owner",
            "leadowner",
            "assignedto",
            "rep",
            "salesrep",
            "contactowner",
        ],
        column: Some("Owner"),
        in_template: true,
        example: "",
        read: Some(|i, v| i.owner = Some(v.to_owned())),
        cell: |l, _| l.owner.as_ref().map(|o| o.to_string()).unwrap_or_default(),
    },
    LeadField {
        key: "tags",
        reach: Reach::File,
        names: &["tags", "tag", "labels", "label"],
        column: Some("Tags"),
        in_template: true,
        example: "template-example",
        read: Some(|i, v| {
            i.tags = v
                .split([';', ','])
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect()
        }),
        cell: |l, _| l.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>().join("; "),
    },
    LeadField {
        key: "id",
        reach: Reach::Export,
        names: &[],
        column: Some("ID"),
        in_template: false,
        example: "",
        read: None,
        cell: |l, _| l.id.to_string(),
    },
    LeadField {
        key: "created_at",
        reach: Reach::File,
        // A migrated lead's history; seed 004's list calls the created date `date`.
        names: &[
            "createddate",
            "createdate",
            "createdon",
            "datecreated",
            "created",
            "createdat",
            "createdtime",
            "date",
            "leadcreateddate",
            "creationdate",
            "erstelltam",
            "erstellungsdatum",
            "angelegtam",
            "datedecréation",
            "datedecreation",
            "créele",
            "creele",
            "fechadecreación",
            "fechadecreacion",
            "datadicreazione",
            "datacreazione",
            "aangemaaktop",
            "aanmaakdatum",
            "datadecriação",
            "datadecriacao",
            "criadoem",
        ],
        column: Some("Created"),
        in_template: false,
        example: "",
        // The file's date format decides how it reads (`import::dates`).
        read: None,
        cell: |l, _| time(l.created_at),
    },
    LeadField {
        key: "last_activity_at",
        reach: Reach::File,
        names: &[
            "lastactivity",
            "lastactivitydate",
            "lastactivityat",
            "lastactivitydatetime",
            "lastcontacted",
            "lastcontacteddate",
            "letzteaktivität",
            "letzteaktivitat",
            "dernièreactivité",
            "derniereactivite",
            "últimaactividad",
            "ultimaactividad",
            "ultimaattività",
            "ultimaattivita",
            "laatsteactiviteit",
            "últimaatividade",
            "ultimaatividade",
        ],
        column: Some("Last Activity"),
        in_template: false,
        example: "",
        read: None,
        cell: |l, _| time(l.last_activity_at),
    },
    LeadField {
        key: "owner_name",
        reach: Reach::Export,
        names: &[],
        column: Some("Owner Name"),
        in_template: false,
        example: "",
        read: None,
        cell: |l, ctx| {
            l.owner
                .as_ref()
                .map(|o| rep_name(&ctx.reps, o))
                .unwrap_or_default()
        },
    },
];

/// Lower-case with everything but letters and digits removed: how a submitted name or a
/// header is compared with `names`.
pub fn normalize_name(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a field can be filled by an input of this reach: a file fills every readable
/// field, a form or platform only the `Any` ones.
fn fills(field: &LeadField, from: Reach) -> bool {
    match from {
        Reach::Any => field.reach == Reach::Any,
        Reach::File => field.reach != Reach::Export,
        Reach::Export => false,
    }
}

/// The field a normalized name stands for, as an input of this reach reads it.
pub fn by_name(normalized: &str, from: Reach) -> Option<&'static LeadField> {
    FIELDS
        .iter()
        .find(|f| fills(f, from) && f.names.contains(&normalized))
}

/// The field with this key, if an input of this reach may fill it.
pub fn by_key(key: &str, from: Reach) -> Option<&'static LeadField> {
    FIELDS.iter().find(|f| f.key == key && fills(f, from))
}

/// The keys an input of this reach may fill, in table order.
pub fn keys(from: Reach) -> impl Iterator<Item = &'static str> {
    FIELDS.iter().filter(move |f| fills(f, from)).map(|f| f.key)
}

/// The field whose export column this is (exactly as the table writes it).
pub fn by_column(column: &str) -> Option<&'static LeadField> {
    FIELDS.iter().find(|f| f.column == Some(column))
}

/// The import template's fixed columns, in order.
pub fn template_fields() -> impl Iterator<Item = &'static LeadField> {
    FIELDS.iter().filter(|f| f.in_template)
}

/// The columns an export adds when asked for by name, after the template's: what a report
/// needs and an import does not read back, or reads only from a migration's file.
pub fn extra_export_fields() -> impl Iterator<Item = &'static LeadField> {
    FIELDS.iter().filter(|f| f.column.is_some() && !f.in_template)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_the_table_is_read_should_name_each_field_once_and_read_its_own_columns_back() {
        let mut seen = std::collections::HashMap::new();
        for f in FIELDS {
            assert!(seen.insert(f.key, "key").is_none(), "key {} twice", f.key);
            for n in f.names {
                assert_eq!(normalize_name(n), *n, "{n} is written normalized");
                assert!(
                    FIELDS.iter().filter(|g| g.names.contains(n)).count() == 1,
                    "{n} names two fields"
                );
            }
            // What an export writes, an import maps back to the same field.
            if let Some(column) = f.column
                && f.reach != Reach::Export
            {
                let back = by_name(&normalize_name(column), Reach::File).map(|g| g.key);
                assert_eq!(back, Some(f.key), "column {column}");
            }
            assert_eq!(
                f.read.is_none(),
                f.reach == Reach::Export || f.key.ends_with("_at"),
                "{}",
                f.key
            );
            assert!(f.in_template <= f.column.is_some());
            // A form mapping or a header may name a field by its own key.
            if f.reach != Reach::Export {
                assert!(f.names.contains(&normalize_name(f.key).as_str()), "{}", f.key);
            }
        }
    }

    #[test]
    fn when_a_form_names_a_file_only_field_should_not_map_it() {
        assert_eq!(by_name("leadstatus", Reach::Any).map(|f| f.key), None);
        assert_eq!(by_name("leadstatus", Reach::File).map(|f| f.key), Some("status"));
        assert_eq!(by_name("emailaddress", Reach::Any).map(|f| f.key), Some("email"));
        assert_eq!(by_name("ownername", Reach::File).map(|f| f.key), None);
        assert!(keys(Reach::Any).all(|k| k != "owner"));
        let template: Vec<&str> = template_fields().filter_map(|f| f.column).collect();
        assert_eq!(
            template,
            [
                "Name",
                "Email",
                "Phone",
                "Mobile",
                "Company",
                "Position",
                "Website",
                "Company Number",
                "Tax ID",
                "Street",
                "City",
                "State",
                "Country",
                "Postal Code",
                "Lead Source",
                "Lead Status",
                "Owner",
                "Tags"
            ]
        );
        let extra: Vec<&str> = extra_export_fields().filter_map(|f| f.column).collect();
        assert_eq!(extra, ["ID", "Created", "Last Activity", "Owner Name"]);
    }
}

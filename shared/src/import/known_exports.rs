//! What people migrate from, as data: the standard lead exports of other CRMs (their header
//! names, their lead-status values, their lead-source values) and the headers spreadsheets
//! use in German, French, Spanish, Italian, Dutch and Portuguese. Auto-detection consults it
//! after the admin's mapping, the custom fields and the built-in synonyms; the admin's
//! `values` translations win over it. Each system carries a sample (a header line and a row
//! as its export writes them) that the contract suite imports.
//!
//! Field targets are lead fields (`mapping::FIELDS`) or `ignore` (a column the system
//! exports that is no lead field, e.g. Pipedrive's lead title). Statuses map onto Leadgate's
//! five; sources onto the ids every tenant starts with (`SEEDED_SOURCES`), so a tenant that
//! retired or renamed one falls back to the import's unknown-source policy.

pub struct KnownExport {
    pub system: &'static str,
    /// Headers as the export writes them → field.
    pub headers: &'static [(&'static str, &'static str)],
    /// The system's lead-status values → Leadgate status.
    pub statuses: &'static [(&'static str, &'static str)],
    /// The system's lead-source values → seeded source id.
    pub sources: &'static [(&'static str, &'static str)],
    /// A header line and one row, as exported (CSV).
    pub sample: &'static str,
    /// What the sample row becomes: (status, source id).
    pub expect: (&'static str, &'static str),
}

pub const SYSTEMS: &[KnownExport] = &[
    KnownExport {
        system: "Salesforce (report export)",
        headers: &[
            ("Lead Owner", "owner"),
            ("Company / Account", "company"),
            ("Title", "position"),
            ("Mobile", "mobile"),
            ("State/Province", "state"),
            ("Zip/Postal Code", "postal_code"),
            ("Create Date", "created_at"),
            ("Last Activity", "last_activity_at"),
            ("Rating", "ignore"),
        ],
        statuses: &[
            ("Open - Not Contacted", "new"),
            ("Working - Contacted", "contacted"),
            ("Closed - Converted", "converted"),
            ("Closed - Not Converted", "unqualified"),
        ],
        sources: &[
            ("Web", "website-form"),
            ("Phone Inquiry", "phone-call"),
            ("Partner Referral", "partner"),
            ("Purchased List", "cold-outreach"),
            ("Employee Referral", "referral"),
            ("External Referral", "referral"),
            ("Word of mouth", "referral"),
            ("Trade Show", "trade-show"),
            ("Seminar - Internal", "trade-show"),
            ("Seminar - Partner", "trade-show"),
        ],
        sample: "\"Lead Owner\",\"First Name\",\"Last Name\",\"Title\",\"Company / Account\",\"Email\",\"Phone\",\"Lead Source\",\"Lead Status\",\"Rating\",\"Create Date\"\n\
                 \"Ana Admin\",\"Sam\",\"Reed\",\"CFO\",\"Reed Ltd\",\"sam@reed.example\",\"(415) 555-0133\",\"Web\",\"Working - Contacted\",\"Hot\",\"1/25/2025\"\n",
        expect: ("contacted", "website-form"),
    },
    KnownExport {
        system: "Salesforce (Data Loader)",
        headers: &[
            ("FirstName", "first_name"),
            ("LastName", "last_name"),
            ("MobilePhone", "mobile"),
            ("LeadSource", "source"),
            ("Status", "status"),
            ("PostalCode", "postal_code"),
            ("CreatedDate", "created_at"),
            ("LastActivityDate", "last_activity_at"),
            ("Id", "ignore"),
            ("OwnerId", "ignore"),
            ("IsConverted", "ignore"),
        ],
        statuses: &[],
        sources: &[],
        sample: "Id,FirstName,LastName,Company,Email,Phone,LeadSource,Status,OwnerId,CreatedDate\n\
                 00Q5g00000AbCdE,Lea,Marsh,Marsh Inc,lea@marsh.example,+1 212 555 0142,Phone Inquiry,Open - Not Contacted,0055g00000XyZab,2025-02-03T09:15:00.000Z\n",
        expect: ("new", "phone-call"),
    },
    KnownExport {
        system: "HubSpot (contacts export)",
        headers: &[
            ("Record ID", "ignore"),
            ("Phone Number", "phone"),
            ("Mobile Phone Number", "mobile"),
            ("Company Name", "company"),
            ("Job Title", "position"),
            ("Original Source", "source"),
            ("Lifecycle Stage", "ignore"),
            ("Contact owner", "owner"),
            ("Create Date", "created_at"),
            ("Last Activity Date", "last_activity_at"),
            ("Website URL", "website"),
            ("State/Region", "state"),
            ("Country/Region", "country"),
            ("Street Address", "street"),
        ],
        statuses: &[
            ("New", "new"),
            ("Open", "new"),
            ("In Progress", "contacted"),
            ("Open Deal", "qualified"),
            ("Unqualified", "unqualified"),
            ("Attempted to Contact", "contacted"),
            ("Connected", "contacted"),
            ("Bad Timing", "unqualified"),
        ],
        sources: &[
            ("Organic Search", "website-form"),
            ("Paid Search", "website-form"),
            ("Direct Traffic", "website-form"),
            ("Referrals", "referral"),
            ("Social Media", "social-media"),
            ("Organic Social", "social-media"),
            ("Paid Social", "social-media"),
        ],
        sample: "Record ID,First Name,Last Name,Email,Phone Number,Company Name,Job Title,Lead Status,Original Source,Lifecycle Stage,Contact owner,Create Date\n\
                 101,Dana,Kim,dana@kim.example,+1 650 555 0123,Kim Co,Founder,Attempted to Contact,Paid Social,Lead,Ana Admin,2025-01-05 10:00\n",
        expect: ("contacted", "social-media"),
    },
    KnownExport {
        system: "Pipedrive (leads export)",
        headers: &[
            ("Lead - Title", "ignore"),
            ("Person - Name", "name"),
            ("Person - Email", "email"),
            ("Person - Email - Work", "email"),
            ("Person - Phone", "phone"),
            ("Person - Phone - Work", "phone"),
            ("Organization - Name", "company"),
            ("Lead - Source", "source"),
            ("Lead - Labels", "tags"),
            ("Lead - Owner", "owner"),
            ("Lead - Lead created", "created_at"),
            ("Lead created", "created_at"),
        ],
        statuses: &[],
        sources: &[
            ("Web forms", "website-form"),
            ("Prospector", "cold-outreach"),
            ("Live chat", "website-form"),
        ],
        sample: "Lead - Title,Person - Name,Person - Email - Work,Person - Phone - Work,Organization - Name,Lead - Source,Lead - Labels,Lead - Lead created\n\
                 Kern deal,Ute Kern,ute@kern.example,+49 40 1234567,Kern GmbH,Web forms,Hot,2025-03-01 08:00:00\n",
        expect: ("new", "website-form"),
    },
    KnownExport {
        system: "Zoho CRM (leads export)",
        headers: &[
            ("Lead Owner", "owner"),
            ("Zip Code", "postal_code"),
            ("Created Time", "created_at"),
            ("Last Activity Time", "last_activity_at"),
            ("Industry", "ignore"),
            ("Lead Id", "ignore"),
        ],
        statuses: &[
            ("Not Contacted", "new"),
            ("Attempted to Contact", "contacted"),
            ("Contact in Future", "contacted"),
            ("Contacted", "contacted"),
            ("Pre-Qualified", "qualified"),
            ("Not Qualified", "unqualified"),
            ("Junk Lead", "unqualified"),
            ("Lost Lead", "unqualified"),
        ],
        sources: &[
            ("Cold Call", "cold-outreach"),
            ("Employee Referral", "referral"),
            ("External Referral", "referral"),
            ("Partner", "partner"),
            ("Trade Show", "trade-show"),
            ("Internal Seminar", "trade-show"),
            ("Web Download", "website-form"),
            ("Web Research", "cold-outreach"),
            ("Chat", "website-form"),
            ("Facebook", "social-media"),
            ("Twitter", "social-media"),
        ],
        sample: "Lead Id,Lead Owner,Company,First Name,Last Name,Designation,Email,Phone,Mobile,Lead Source,Lead Status,Zip Code,Created Time\n\
                 zcrm_4876000000123,Ana Admin,Rao Exports,Priya,Rao,Director,priya@rao.example,,+91 98200 12345,Cold Call,Pre-Qualified,400001,2025-01-20 14:30:00\n",
        expect: ("qualified", "cold-outreach"),
    },
    KnownExport {
        system: "Microsoft Dynamics 365 (leads to Excel)",
        headers: &[
            ("Topic", "ignore"),
            ("Status Reason", "status"),
            ("Business Phone", "phone"),
            ("Mobile Phone", "mobile"),
            ("Street 1", "street"),
            ("ZIP/Postal Code", "postal_code"),
            ("Country/Region", "country"),
            ("Created On", "created_at"),
            ("Owner", "owner"),
        ],
        statuses: &[
            ("New", "new"),
            ("Contacted", "contacted"),
            ("Qualified", "qualified"),
            ("Lost", "unqualified"),
            ("Cannot Contact", "unqualified"),
            ("No Longer Interested", "unqualified"),
            ("Canceled", "unqualified"),
        ],
        sources: &[
            ("Web", "website-form"),
            ("Employee Referral", "referral"),
            ("External Referral", "referral"),
            ("Word of Mouth", "referral"),
            ("Partner", "partner"),
            ("Seminar", "trade-show"),
            ("Trade Show", "trade-show"),
        ],
        sample: "Topic,Name,Company Name,Business Phone,Email,Lead Source,Status Reason,Created On\n\
                 Fleet upgrade,Tom Hale,Hale Logistics,+44 20 7946 0018,tom@hale.example,Trade Show,Contacted,14/02/2025 09:30\n",
        expect: ("contacted", "trade-show"),
    },
    KnownExport {
        system: "Zendesk Sell (leads export)",
        headers: &[
            ("organization_name", "company"),
            ("title", "position"),
            ("zip", "postal_code"),
            ("created_at", "created_at"),
            ("id", "ignore"),
        ],
        statuses: &[
            ("New", "new"),
            ("Working", "contacted"),
            ("Unqualified", "unqualified"),
        ],
        sources: &[
            ("Website", "website-form"),
            ("Referral", "referral"),
            ("Cold call", "cold-outreach"),
        ],
        sample: "id,first_name,last_name,organization_name,title,email,phone,mobile,status,source,created_at\n\
                 7731,Ivy,Cole,Cole & Co,COO,ivy@cole.example,+1 303 555 0190,,Working,Cold call,2025-02-11T16:04:11Z\n",
        expect: ("contacted", "cold-outreach"),
    },
    KnownExport {
        system: "Close (leads export)",
        headers: &[
            ("display_name", "company"),
            ("status_label", "status"),
            ("url", "website"),
            ("date_created", "created_at"),
            ("primary_contact_name", "name"),
            ("primary_contact_primary_email", "email"),
            ("primary_contact_primary_phone", "phone"),
            ("html_url", "ignore"),
            ("id", "ignore"),
        ],
        statuses: &[
            ("Potential", "new"),
            ("Bad Fit", "unqualified"),
            ("Qualified", "qualified"),
            ("Customer", "converted"),
        ],
        sources: &[],
        sample: "id,display_name,status_label,url,primary_contact_name,primary_contact_primary_email,primary_contact_primary_phone,date_created\n\
                 lead_8SNo1yQ,Nash Media,Potential,https://nash.example,Rae Nash,rae@nash.example,+1 512 555 0177,2025-01-09T11:00:00.000000+00:00\n",
        expect: ("new", ""),
    },
    KnownExport {
        system: "Odoo CRM (leads export)",
        headers: &[
            ("Lead", "ignore"),
            ("Opportunity", "ignore"),
            ("Contact Name", "name"),
            ("Customer", "company"),
            ("Job Position", "position"),
            ("Salesperson", "owner"),
            ("Stage", "status"),
            ("Medium", "utm_medium"),
            ("Campaign", "utm_campaign"),
            ("Created on", "created_at"),
            ("Zip", "postal_code"),
        ],
        statuses: &[
            ("New", "new"),
            ("Qualified", "qualified"),
            ("Proposition", "qualified"),
            ("Won", "converted"),
        ],
        sources: &[
            ("Search engine", "website-form"),
            ("Facebook", "social-media"),
            ("LinkedIn", "social-media"),
        ],
        sample: "Lead,Contact Name,Email,Phone,Customer,Stage,Source,Created on\n\
                 Office chairs,Noa Berg,noa@berg.example,+31 20 555 0101,Berg BV,Qualified,Search engine,2025-01-30 10:12:44\n",
        expect: ("qualified", "website-form"),
    },
    KnownExport {
        system: "EspoCRM (leads export)",
        headers: &[
            ("Account Name", "company"),
            ("Assigned User", "owner"),
            ("Created At", "created_at"),
            ("Address Street", "street"),
            ("Address City", "city"),
            ("Address State", "state"),
            ("Address Postal Code", "postal_code"),
            ("Address Country", "country"),
        ],
        statuses: &[
            ("New", "new"),
            ("Assigned", "new"),
            ("In Process", "contacted"),
            ("Converted", "converted"),
            ("Recycled", "unqualified"),
            ("Dead", "unqualified"),
        ],
        sources: &[
            ("Call", "phone-call"),
            ("Existing Customer", "referral"),
            ("Partner", "partner"),
            ("Web Site", "website-form"),
        ],
        sample: "Name,Account Name,Email,Phone,Status,Source,Created At\n\
                 Lia Moreau,Moreau SA,lia@moreau.example,+33 1 42 68 53 00,In Process,Web Site,2025-02-20 08:45:00\n",
        expect: ("contacted", "website-form"),
    },
    KnownExport {
        system: "A plain Excel list",
        headers: &[("Notes", "ignore"), ("Comments", "ignore")],
        statuses: &[],
        sources: &[],
        sample: "Name,Email,Phone,Company,Notes\nOmar Haddad,omar@haddad.example,+971 4 555 0100,Haddad LLC,met at expo\n",
        expect: ("new", ""),
    },
];

/// Headers in other languages → field; and lead-status words → status.
pub struct Language {
    pub language: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    pub statuses: &'static [(&'static str, &'static str)],
    /// A header line and one row (semicolon-separated, as that country's Excel writes it).
    pub sample: &'static str,
    /// The sample row's status once imported.
    pub expect_status: &'static str,
}

pub const LANGUAGES: &[Language] = &[
    Language {
        language: "German",
        headers: &[
            ("Vollständiger Name", "name"),
            ("E-Mail-Adresse", "email"),
            ("Mobiltelefon", "mobile"),
            ("Berufsbezeichnung", "position"),
            ("Quelle", "source"),
            ("Lead-Quelle", "source"),
            ("Webseite", "website"),
        ],
        statuses: &[
            ("Neu", "new"),
            ("Kontaktiert", "contacted"),
            ("Qualifiziert", "qualified"),
            ("Nicht qualifiziert", "unqualified"),
        ],
        sample: "Vollständiger Name;E-Mail-Adresse;Telefon;Firma;Quelle;Status\nKlaus Weber;klaus@weber.example;+49 89 1234567;Weber AG;Referral;Kontaktiert\n",
        expect_status: "contacted",
    },
    Language {
        language: "French",
        headers: &[
            ("Nom complet", "name"),
            ("Courriel", "email"),
            ("Adresse e-mail", "email"),
            ("Poste", "position"),
            ("Fonction", "position"),
            ("Origine", "source"),
            ("Statut", "status"),
            ("Ville", "city"),
            ("Code postal", "postal_code"),
            ("Site web", "website"),
        ],
        statuses: &[
            ("Nouveau", "new"),
            ("Contacté", "contacted"),
            ("Qualifié", "qualified"),
            ("Non qualifié", "unqualified"),
        ],
        sample: "Nom complet;Adresse e-mail;Téléphone;Société;Origine;Statut\nJulie Martin;julie@martin.example;+33 1 23 45 67 89;Martin SARL;Referral;Qualifié\n",
        expect_status: "qualified",
    },
    Language {
        language: "Spanish",
        headers: &[
            ("Nombre completo", "name"),
            ("Correo electrónico", "email"),
            ("Correo", "email"),
            ("Celular", "mobile"),
            ("Cargo", "position"),
            ("Puesto", "position"),
            ("Origen", "source"),
            ("Fuente", "source"),
            // Not "Estado" alone: in Mexican and Brazilian address columns it is the region.
            ("Estado del lead", "status"),
            ("Estado del cliente potencial", "status"),
            ("Código postal", "postal_code"),
            ("Sitio web", "website"),
        ],
        statuses: &[
            ("Nuevo", "new"),
            ("Contactado", "contacted"),
            ("Calificado", "qualified"),
            ("Cualificado", "qualified"),
            ("No calificado", "unqualified"),
        ],
        sample: "Nombre completo;Correo electrónico;Teléfono;Empresa;Origen;Estado del lead\nLucía Gómez;lucia@gomez.example;+34 912 345 678;Gómez SL;Referral;Contactado\n",
        expect_status: "contacted",
    },
    Language {
        language: "Italian",
        headers: &[
            ("Nome completo", "name"),
            ("Nome", "first_name"),
            ("Cognome", "last_name"),
            ("Posta elettronica", "email"),
            ("Cellulare", "mobile"),
            ("Azienda", "company"),
            ("Società", "company"),
            ("Ruolo", "position"),
            ("Fonte", "source"),
            ("Stato", "status"),
            ("Indirizzo", "street"),
            ("Città", "city"),
            ("CAP", "postal_code"),
            ("Nazione", "country"),
            ("Paese", "country"),
            ("Sito web", "website"),
        ],
        statuses: &[
            ("Nuovo", "new"),
            ("Contattato", "contacted"),
            ("Qualificato", "qualified"),
            ("Non qualificato", "unqualified"),
        ],
        sample: "Nome;Cognome;Email;Telefono;Azienda;Fonte;Stato\nMarco;Rossi;marco@rossi.example;+39 02 1234 5678;Rossi Srl;Referral;Contattato\n",
        expect_status: "contacted",
    },
    Language {
        language: "Dutch",
        headers: &[
            ("Volledige naam", "name"),
            ("Voornaam", "first_name"),
            ("Achternaam", "last_name"),
            ("E-mailadres", "email"),
            ("Telefoon", "phone"),
            ("Telefoonnummer", "phone"),
            ("Mobiel", "mobile"),
            ("Bedrijf", "company"),
            ("Bedrijfsnaam", "company"),
            ("Functie", "position"),
            ("Bron", "source"),
            ("Adres", "street"),
            ("Plaats", "city"),
            ("Woonplaats", "city"),
        ],
        statuses: &[
            ("Nieuw", "new"),
            ("Gecontacteerd", "contacted"),
            ("Benaderd", "contacted"),
            ("Gekwalificeerd", "qualified"),
            ("Niet gekwalificeerd", "unqualified"),
        ],
        sample: "Volledige naam;E-mailadres;Telefoonnummer;Bedrijf;Bron;Status\nDaan de Vries;daan@devries.example;+31 20 123 4567;De Vries BV;Referral;Gekwalificeerd\n",
        expect_status: "qualified",
    },
    Language {
        language: "Portuguese",
        headers: &[
            ("Sobrenome", "last_name"),
            ("Apelido", "last_name"),
            ("Telefone", "phone"),
            ("Telemóvel", "mobile"),
            ("Origem", "source"),
            ("Situação", "status"),
            ("Endereço", "street"),
            ("Morada", "street"),
            ("Cidade", "city"),
            ("CEP", "postal_code"),
            ("Site", "website"),
        ],
        statuses: &[
            ("Novo", "new"),
            ("Contatado", "contacted"),
            ("Qualificado", "qualified"),
            ("Não qualificado", "unqualified"),
        ],
        sample: "Nome completo;E-mail;Telefone;Empresa;Origem;Situação\nJoão Silva;joao@silva.example;+55 11 91234 5678;Silva Ltda;Referral;Novo\n",
        expect_status: "new",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::source::SEEDED_SOURCES;
    use crate::domain::status::LeadStatus;
    use crate::import::mapping::{Column, Mapping, fields, map_headers};

    /// Every header reads as its entry says, through the same detection an import runs (so
    /// no entry contradicts a built-in synonym or another system's entry); every target is a
    /// field, a status, a seeded source; one value never means two things.
    #[test]
    fn when_the_table_is_read_should_agree_with_itself_and_the_synonyms() {
        let all_headers = SYSTEMS
            .iter()
            .map(|s| (s.system, s.headers))
            .chain(LANGUAGES.iter().map(|l| (l.language, l.headers)));
        for (who, headers) in all_headers {
            for (h, field) in headers {
                assert!(
                    *field == "ignore" || fields().any(|f| f == *field),
                    "{who}: {h} → {field}"
                );
                let got = map_headers(&[h.to_string()], &[], &Mapping::default());
                let want = match *field {
                    "ignore" => Column::Ignored,
                    f => Column::Field(f),
                };
                assert_eq!(got, [want], "{who}: {h}");
            }
        }
        let mut seen = std::collections::HashMap::new();
        let statuses = SYSTEMS
            .iter()
            .flat_map(|s| s.statuses)
            .chain(LANGUAGES.iter().flat_map(|l| l.statuses));
        for (v, st) in statuses {
            assert!(LeadStatus::parse(st).is_ok(), "{v} → {st}");
            let first = seen.entry(v.to_lowercase()).or_insert(*st);
            assert_eq!(first, st, "{v} means two statuses");
        }
        let mut seen = std::collections::HashMap::new();
        for (v, src) in SYSTEMS.iter().flat_map(|s| s.sources) {
            assert!(SEEDED_SOURCES.iter().any(|(id, _)| id == src), "{v} → {src}");
            let first = seen.entry(v.to_lowercase()).or_insert(*src);
            assert_eq!(first, src, "{v} means two sources");
        }
    }
}
